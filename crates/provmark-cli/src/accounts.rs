//! `provmark accounts`: the API keys of `provmark serve` (the file stores only keyed hashes).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use provmark_serve::Accounts;

/// Arguments of `provmark accounts`.
#[derive(clap::Args)]
pub struct AccountsArgs {
    #[command(subcommand)]
    command: AccountsCommand,
}

#[derive(clap::Subcommand)]
enum AccountsCommand {
    /// Add an account and print its new API key, alone on the last line (shown once: only a keyed
    /// hash is stored). Creates the file (mode 0600) if needed.
    Add {
        /// The accounts file.
        #[arg(long)]
        accounts: PathBuf,
        /// The account id (its watermark subkey; what `scan --accounts` names).
        name: String,
    },
    /// Print the account names, one per line (a ready `scan --accounts` file).
    List {
        /// The accounts file.
        #[arg(long)]
        accounts: PathBuf,
    },
}

/// Runs `accounts`.
pub fn run(a: AccountsArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        AccountsCommand::Add { accounts, name } => {
            let mut file = Accounts::load_or_new(&accounts)?;
            let key = file.add(&name)?;
            file.save()
                .with_context(|| format!("cannot write {}", accounts.display()))?;
            eprintln!(
                "provmark: added account {name} to {}; its API key follows (it is not stored and cannot be shown again)",
                accounts.display()
            );
            println!("{}", key.as_str());
        }
        AccountsCommand::List { accounts } => {
            for n in Accounts::load(&accounts)?.names() {
                println!("{n}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
