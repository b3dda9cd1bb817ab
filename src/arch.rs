//! The one table of CPU architectures brt knows: names in each packaging
//! family, ELF identification, the qemu-user binary and the standard
//! binfmt_misc magic/mask (from qemu's `scripts/qemu-binfmt-conf.sh`).

use std::fmt;

/// ELF `e_ident[EI_CLASS]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfClass {
    Elf32,
    Elf64,
}

/// ELF `e_ident[EI_DATA]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
}

/// One architecture brt can make roots for.
#[derive(Debug, PartialEq, Eq)]
pub struct Arch {
    /// RPM spelling (`uname -m` on the target for all but armv7hl).
    pub rpm: &'static str,
    /// Debian spelling (`dpkg --print-architecture`).
    pub deb: &'static str,
    /// Other spellings users type (`arm64`, `amd64`, `armhf`, …) beyond rpm/deb.
    pub aliases: &'static [&'static str],
    /// What `uname -m` prints inside a root of this arch.
    pub uname: &'static str,
    /// Suffix of the qemu-user binary: `qemu-<qemu>-static`.
    pub qemu: &'static str,
    pub class: ElfClass,
    pub endian: Endian,
    /// ELF `e_machine`.
    pub machine: u16,
    /// Standard binfmt_misc magic and mask (20 bytes each).
    pub magic: &'static [u8],
    pub mask: &'static [u8],
    /// Machine code that performs `exit(42)` with the Linux syscall ABI.
    exit42: &'static [u8],
    /// `e_flags` the code above needs (ppc64le: ELFv2 ABI).
    elf_flags: u32,
}

const MASK_EXEC_OR_DYN: &[u8] =
    b"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";

pub const ARCHES: &[Arch] = &[
    Arch {
        rpm: "x86_64",
        deb: "amd64",
        aliases: &["x86-64"],
        uname: "x86_64",
        qemu: "x86_64",
        class: ElfClass::Elf64,
        endian: Endian::Little,
        machine: 62,
        magic: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00",
        mask: b"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
        // mov edi,42; mov eax,60; syscall
        exit42: b"\xbf\x2a\x00\x00\x00\xb8\x3c\x00\x00\x00\x0f\x05",
        elf_flags: 0,
    },
    Arch {
        rpm: "i686",
        deb: "i386",
        aliases: &["i386", "i586", "x86"],
        uname: "i686",
        qemu: "i386",
        class: ElfClass::Elf32,
        endian: Endian::Little,
        machine: 3,
        magic: b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00",
        mask: b"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
        // mov ebx,42; mov eax,1; int 0x80
        exit42: b"\xbb\x2a\x00\x00\x00\xb8\x01\x00\x00\x00\xcd\x80",
        elf_flags: 0,
    },
    Arch {
        rpm: "aarch64",
        deb: "arm64",
        aliases: &[],
        uname: "aarch64",
        qemu: "aarch64",
        class: ElfClass::Elf64,
        endian: Endian::Little,
        machine: 183,
        magic: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00",
        mask: MASK_EXEC_OR_DYN,
        // movz x0,#42; movz x8,#93; svc #0
        exit42: b"\x40\x05\x80\xd2\xa8\x0b\x80\xd2\x01\x00\x00\xd4",
        elf_flags: 0,
    },
    Arch {
        rpm: "armv7hl",
        deb: "armhf",
        aliases: &["armv7l", "arm"],
        uname: "armv7l",
        qemu: "arm",
        class: ElfClass::Elf32,
        endian: Endian::Little,
        machine: 40,
        magic: b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00",
        mask: MASK_EXEC_OR_DYN,
        // mov r0,#42; mov r7,#1; svc #0
        exit42: b"\x2a\x00\xa0\xe3\x01\x70\xa0\xe3\x00\x00\x00\xef",
        // EABI version 5
        elf_flags: 0x0500_0000,
    },
    Arch {
        rpm: "ppc64le",
        deb: "ppc64el",
        aliases: &[],
        uname: "ppc64le",
        qemu: "ppc64le",
        class: ElfClass::Elf64,
        endian: Endian::Little,
        machine: 21,
        magic: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x15\x00",
        mask: b"\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00",
        // li r3,42; li r0,1; sc
        exit42: b"\x2a\x00\x60\x38\x01\x00\x00\x38\x02\x00\x00\x44",
        elf_flags: 2,
    },
    Arch {
        rpm: "s390x",
        deb: "s390x",
        aliases: &[],
        uname: "s390x",
        qemu: "s390x",
        class: ElfClass::Elf64,
        endian: Endian::Big,
        machine: 22,
        magic: b"\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16",
        mask: b"\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff",
        // lghi %r2,42; svc 1
        exit42: b"\xa7\x29\x00\x2a\x0a\x01",
        elf_flags: 0,
    },
    Arch {
        rpm: "riscv64",
        deb: "riscv64",
        aliases: &[],
        uname: "riscv64",
        qemu: "riscv64",
        class: ElfClass::Elf64,
        endian: Endian::Little,
        machine: 243,
        magic: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00",
        mask: MASK_EXEC_OR_DYN,
        // li a0,42; li a7,93; ecall
        exit42: b"\x13\x05\xa0\x02\x93\x08\xd0\x05\x73\x00\x00\x00",
        elf_flags: 0,
    },
];

impl Arch {
    /// Find an architecture by any of its spellings (`aarch64`, `arm64`, …).
    pub fn find(name: &str) -> Option<&'static Arch> {
        ARCHES
            .iter()
            .find(|a| a.rpm == name || a.deb == name || a.aliases.contains(&name))
    }

    /// All spellings of this arch, rpm first.
    pub fn spellings(&self) -> impl Iterator<Item = &'static str> {
        [self.rpm, self.deb]
            .into_iter()
            .chain(self.aliases.iter().copied())
    }

    /// The architecture of the machine brt runs on.
    pub fn host() -> &'static Arch {
        let name = match std::env::consts::ARCH {
            "x86" => "i686",
            "arm" => "armv7hl",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Arch::find(name).expect("brt is built only for architectures in its table")
    }

    /// Name of the qemu-user binary, `qemu-aarch64-static` style.
    pub fn qemu_static(&self) -> String {
        format!("qemu-{}-static", self.qemu)
    }

    /// Does `header` (the first bytes of a file) match this arch's magic/mask?
    pub fn matches_elf(&self, header: &[u8]) -> bool {
        magic_matches(self.magic, self.mask, 0, header)
    }

    /// A minimal static ELF executable for this arch that exits with status 42.
    /// Running it proves the kernel can execute this arch's binaries.
    pub fn probe_elf(&self) -> Vec<u8> {
        const VADDR: u64 = 0x40_0000;
        let mut out = Vec::with_capacity(160);
        let (ehsize, phsize) = match self.class {
            ElfClass::Elf64 => (64u16, 56u16),
            ElfClass::Elf32 => (52u16, 32u16),
        };
        let code_off = u64::from(ehsize + phsize);
        let total = code_off + self.exit42.len() as u64;
        let put16 = |out: &mut Vec<u8>, v: u16| match self.endian {
            Endian::Little => out.extend_from_slice(&v.to_le_bytes()),
            Endian::Big => out.extend_from_slice(&v.to_be_bytes()),
        };
        let put32 = |out: &mut Vec<u8>, v: u32| match self.endian {
            Endian::Little => out.extend_from_slice(&v.to_le_bytes()),
            Endian::Big => out.extend_from_slice(&v.to_be_bytes()),
        };
        let put64 = |out: &mut Vec<u8>, v: u64| match self.endian {
            Endian::Little => out.extend_from_slice(&v.to_le_bytes()),
            Endian::Big => out.extend_from_slice(&v.to_be_bytes()),
        };
        // Address-sized fields: 8 bytes for ELF64, 4 for ELF32.
        let put_addr = |out: &mut Vec<u8>, v: u64| match self.class {
            ElfClass::Elf64 => put64(out, v),
            ElfClass::Elf32 => put32(out, v as u32),
        };
        // e_ident
        out.extend_from_slice(b"\x7fELF");
        out.push(match self.class {
            ElfClass::Elf32 => 1,
            ElfClass::Elf64 => 2,
        });
        out.push(match self.endian {
            Endian::Little => 1,
            Endian::Big => 2,
        });
        out.push(1); // EV_CURRENT
        out.extend_from_slice(&[0; 9]); // OSABI SYSV, padding
        put16(&mut out, 2); // e_type = ET_EXEC
        put16(&mut out, self.machine);
        put32(&mut out, 1); // e_version
        put_addr(&mut out, VADDR + code_off); // e_entry
        put_addr(&mut out, u64::from(ehsize)); // e_phoff
        put_addr(&mut out, 0); // e_shoff
        put32(&mut out, self.elf_flags);
        put16(&mut out, ehsize);
        put16(&mut out, phsize);
        put16(&mut out, 1); // e_phnum
        put16(&mut out, 0); // e_shentsize
        put16(&mut out, 0); // e_shnum
        put16(&mut out, 0); // e_shstrndx
        // One PT_LOAD segment, R+X, covering the whole file.
        const PT_LOAD: u32 = 1;
        const PF_RX: u32 = 5;
        match self.class {
            ElfClass::Elf64 => {
                put32(&mut out, PT_LOAD);
                put32(&mut out, PF_RX);
                put64(&mut out, 0); // p_offset
                put64(&mut out, VADDR); // p_vaddr
                put64(&mut out, VADDR); // p_paddr
                put64(&mut out, total); // p_filesz
                put64(&mut out, total); // p_memsz
                put64(&mut out, 0x1000); // p_align
            }
            ElfClass::Elf32 => {
                put32(&mut out, PT_LOAD);
                put32(&mut out, 0); // p_offset
                put32(&mut out, VADDR as u32);
                put32(&mut out, VADDR as u32);
                put32(&mut out, total as u32);
                put32(&mut out, total as u32);
                put32(&mut out, PF_RX);
                put32(&mut out, 0x1000);
            }
        }
        debug_assert_eq!(out.len() as u64, code_off);
        out.extend_from_slice(self.exit42);
        out
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rpm)
    }
}

/// binfmt_misc matching: `(header[offset + i] & mask[i]) == (magic[i] & mask[i])`.
pub fn magic_matches(magic: &[u8], mask: &[u8], offset: usize, header: &[u8]) -> bool {
    let Some(window) = header.get(offset..offset + magic.len()) else {
        return false;
    };
    magic.iter().zip(window).enumerate().all(|(i, (m, h))| {
        let k = mask.get(i).copied().unwrap_or(0xff);
        (m & k) == (h & k)
    })
}

/// How a host could run `target` binaries without emulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Native {
    /// Always: same arch, or x86_64 running i686.
    Yes,
    /// Only if the CPU implements it (AArch32 on aarch64): the caller must
    /// probe by executing a binary, not trust the CPU model.
    IfCpuSupports,
    No,
}

/// Can `host` run `target` binaries natively?
pub fn native(host: &Arch, target: &Arch) -> Native {
    if host == target {
        return Native::Yes;
    }
    match (host.rpm, target.rpm) {
        ("x86_64", "i686") => Native::Yes,
        ("aarch64", "armv7hl") => Native::IfCpuSupports,
        _ => Native::No,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_finds_the_same_arch() {
        let cases = [
            ("aarch64", "aarch64"),
            ("arm64", "aarch64"),
            ("x86_64", "x86_64"),
            ("amd64", "x86_64"),
            ("ppc64el", "ppc64le"),
            ("ppc64le", "ppc64le"),
            ("armhf", "armv7hl"),
            ("armv7hl", "armv7hl"),
            ("i386", "i686"),
            ("s390x", "s390x"),
            ("riscv64", "riscv64"),
        ];
        for (spelling, rpm) in cases {
            assert_eq!(Arch::find(spelling).map(|a| a.rpm), Some(rpm), "{spelling}");
        }
        assert!(Arch::find("sparc").is_none());
    }

    #[test]
    fn magic_and_mask_are_consistent_with_the_elf_fields() {
        for a in ARCHES {
            assert_eq!(a.magic.len(), 20, "{a}");
            assert_eq!(a.mask.len(), 20, "{a}");
            let machine = match a.endian {
                Endian::Little => u16::from_le_bytes([a.magic[18], a.magic[19]]),
                Endian::Big => u16::from_be_bytes([a.magic[18], a.magic[19]]),
            };
            assert_eq!(machine, a.machine, "{a}");
        }
    }

    #[test]
    fn probe_elf_matches_only_its_own_arch() {
        for a in ARCHES {
            let elf = a.probe_elf();
            for b in ARCHES {
                // x86_64's and i686's masks ignore class bits, as qemu's do,
                // but their machine fields still differ.
                assert_eq!(b.matches_elf(&elf), a == b, "{a} probe vs {b} magic");
            }
        }
    }

    #[test]
    fn magic_matching_respects_the_mask() {
        // An aarch64 shared object (e_type 3) matches, thanks to the 0xfe mask byte.
        let mut header = ARCHES[2].magic.to_vec();
        header[16] = 3;
        assert!(ARCHES[2].matches_elf(&header));
        // A header that is too short never matches.
        assert!(!ARCHES[2].matches_elf(&header[..10]));
    }
}
