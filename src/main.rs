//! brt's entry point: parse, run, map the outcome to an exit code.

mod cli;
mod cmd;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let code = match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => cmd::report(&err),
    };
    std::process::exit(code);
}
