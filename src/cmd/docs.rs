//! `brt completions SHELL` and `brt manpages DIR`: generated from the same
//! clap definitions as the parser, so they never drift.

use anyhow::{Context, Result};
use clap::CommandFactory;

use super::exit;
use crate::cli::{Cli, CompletionsArgs, ManpagesArgs, Shell};

pub fn completions(args: CompletionsArgs) -> Result<i32> {
    use clap_complete::Shell as S;
    let shell = match args.shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
        Shell::Elvish => S::Elvish,
        Shell::Powershell => S::PowerShell,
    };
    clap_complete::generate(shell, &mut Cli::command(), "brt", &mut std::io::stdout());
    Ok(exit::OK)
}

/// One page for `brt` and one per subcommand (`brt-list.1`, `brt-binfmt-ensure.1`, …).
pub fn manpages(args: ManpagesArgs) -> Result<i32> {
    fs_err::create_dir_all(&args.dir)?;
    let cmd = Cli::command();
    clap_mangen::generate_to(cmd, &args.dir)
        .with_context(|| format!("cannot write man pages to `{}`", args.dir.display()))?;
    Ok(exit::OK)
}
