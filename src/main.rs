//! The `ir3` binary: parses the command line and runs the node.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = ir3::cli::Cli::parse();
    let outcome = match cli.command.clone() {
        Some(command) => ir3::app_cli::run_command(command),
        None => ir3::run(cli),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
