//! Config files: schema, discovery, includes and expansion (DESIGN.md §2).
