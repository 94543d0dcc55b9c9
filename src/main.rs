//! The `ir3` binary: parses the command line and runs the node.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = ir3::cli::Cli::parse();
    match ir3::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
