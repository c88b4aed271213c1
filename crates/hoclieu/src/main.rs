//! `hoclieu`: the one binary of the service.

mod commands;
mod config;
mod context;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "hoclieu",
    version,
    about = "Kho học liệu số dùng chung — the shared digital learning-materials repository"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand takes.
#[derive(Args, Clone)]
pub struct Global {
    /// Where the embedded SQLite database, the local objects and the index live.
    #[arg(long, global = true, default_value = "data", value_name = "DIR")]
    data_dir: PathBuf,
    /// A configuration file layered over the embedded defaults (config/default.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (API and web pages).
    Serve {
        /// Address to listen on (overrides server.bind).
        #[arg(long, value_name = "HOST:PORT")]
        bind: Option<String>,
        /// Import this JSON Lines file when the database has never held a material
        /// (the demo fixtures, for `make run`).
        #[arg(long, value_name = "FILE.jsonl")]
        demo: Option<PathBuf>,
    },
    /// Import materials from a JSON Lines file (one material per line; see docs/API.md).
    Import {
        /// The JSON Lines file; file paths inside it are relative to it.
        file: PathBuf,
        /// Leave the search index alone: a running server (or a later `hoclieu reindex`)
        /// indexes the new materials from the change sequence.
        #[arg(long)]
        no_index: bool,
    },
    /// Rebuild the search index from the database.
    Reindex,
    /// Run background jobs (text extraction, previews) without serving HTTP.
    Worker {
        /// Run every job that is due, then exit.
        #[arg(long)]
        until_idle: bool,
    },
    /// Check that every file's bytes are in object storage with the right size and SHA-256, and
    /// find objects nothing refers to.
    Verify {
        /// Remove orphaned objects and unused blobs (older than the grace period).
        #[arg(long)]
        repair: bool,
        /// Check sizes only, without re-reading every object to hash it.
        #[arg(long)]
        no_hash: bool,
        /// Leave objects younger than this alone (they may belong to uploads in flight).
        #[arg(long, default_value_t = 60)]
        grace_minutes: u64,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Print the effective configuration (secrets masked) and check it.
    CheckConfig,
    /// Manage accounts (curators, reviewers, admins). The first admin is created here.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print the audit log as JSON Lines (who did what, when, from where).
    Audit {
        /// Only records after this id.
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
    /// Manage API keys for LMS systems and scripts.
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Reports from the search log: what teachers search for, and what they cannot find.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Write N realistic generated records as JSON Lines (for tests and benchmarks).
    Generate {
        /// How many records.
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// Random seed (the same seed gives the same records).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file (default: standard output).
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// The most frequent searches that found nothing (curators: material to add, or words to
    /// add to config/synonyms.toml).
    ZeroResults {
        /// How many days back.
        #[arg(long, default_value_t = 30)]
        days: u64,
        /// How many queries.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// The most frequent searches.
    TopQueries {
        #[arg(long, default_value_t = 30)]
        days: u64,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
}

/// `hoclieu user add`.
#[derive(Args)]
pub struct UserAdd {
    /// Sign-in name (lowercase letters, digits, dots).
    #[arg(long)]
    username: String,
    /// Display name (default: the username).
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    organization: Option<String>,
    /// Province code (config/vocabularies/provinces.toml).
    #[arg(long)]
    province: Option<String>,
    /// teacher, curator, reviewer or admin.
    #[arg(long, value_parser = parse_role)]
    role: hoclieu_domain::Role,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account; the password is read from standard input (one line, ≥ 10 characters).
    Add(UserAdd),
    /// List accounts.
    List,
    /// Change an account's role; reviewers may be limited to subjects and provinces.
    SetRole {
        /// Username or email.
        login: String,
        #[arg(long, value_parser = parse_role)]
        role: hoclieu_domain::Role,
        /// Subject code the reviewer reviews (repeat; none: all).
        #[arg(long = "subject")]
        subjects: Vec<String>,
        /// Province code the reviewer reviews (repeat; none: all).
        #[arg(long = "province")]
        provinces: Vec<String>,
    },
    /// Disable an account (its sessions end at once).
    Disable { login: String },
}

fn parse_role(s: &str) -> Result<hoclieu_domain::Role, String> {
    hoclieu_domain::Role::parse(s).ok_or_else(|| format!("unknown role {s:?}: use teacher, curator, reviewer or admin"))
}

#[derive(Subcommand)]
enum ApikeyCommand {
    /// Create a key and print its token (shown only this once).
    Create {
        /// A name saying who uses the key (e.g. "LMS Sở GD&ĐT Hà Nội").
        #[arg(long)]
        name: String,
        /// Scopes: read, write, review, admin (repeat the option for several).
        #[arg(long = "scope", default_value = "read", value_parser = parse_scope)]
        scopes: Vec<hoclieu_domain::Scope>,
        /// Bind the key to an organisation: materials it uploads carry this organisation.
        #[arg(long)]
        organization: Option<String>,
    },
    /// List keys (never their tokens).
    List,
    /// Revoke a key by id.
    Revoke { id: uuid::Uuid },
}

fn parse_scope(s: &str) -> Result<hoclieu_domain::Scope, String> {
    hoclieu_domain::Scope::parse(s).ok_or_else(|| format!("unknown scope {s:?}: use read, write, review or admin"))
}

fn main() -> ExitCode {
    // The sandboxed child that parses one untrusted file (started by this binary itself, under
    // caps): before anything else, so it starts no runtime, threads or logging.
    if std::env::args_os().nth(1).is_some_and(|a| a == hoclieu_preview::sandbox::SUBCOMMAND) {
        return hoclieu_preview::sandbox::child_main();
    }
    let cli = Cli::parse();
    let config = match config::Config::load(cli.global.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    context::init_logging(&config.log.level);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let result = runtime.block_on(async {
        let g = &cli.global;
        match cli.command {
            Command::Serve { bind, demo } => commands::serve(g, config, bind, demo).await,
            Command::Import { file, no_index } => commands::import(g, config, &file, !no_index).await,
            Command::Reindex => commands::reindex(g, config).await,
            Command::Worker { until_idle } => commands::worker(g, config, until_idle).await,
            Command::Migrate => commands::migrate(g, config).await,
            Command::Verify { repair, no_hash, grace_minutes } => {
                commands::verify(g, config, repair, !no_hash, grace_minutes).await
            }
            Command::CheckConfig => commands::check_config(g, config),
            Command::Apikey { command: ApikeyCommand::Create { name, scopes, organization } } => {
                commands::apikey_create(g, config, &name, &scopes, organization.as_deref()).await
            }
            Command::User { command: UserCommand::Add(add) } => commands::user_add(g, config, add).await,
            Command::User { command: UserCommand::List } => commands::user_list(g, config).await,
            Command::User { command: UserCommand::SetRole { login, role, subjects, provinces } } => {
                commands::user_set_role(g, config, &login, role, subjects, provinces).await
            }
            Command::User { command: UserCommand::Disable { login } } => {
                commands::user_disable(g, config, &login).await
            }
            Command::Audit { after } => commands::audit(g, config, after).await,
            Command::Apikey { command: ApikeyCommand::List } => commands::apikey_list(g, config).await,
            Command::Apikey { command: ApikeyCommand::Revoke { id } } => commands::apikey_revoke(g, config, id).await,
            Command::Report { command: ReportCommand::ZeroResults { days, limit } } => {
                commands::report(g, config, true, days, limit).await
            }
            Command::Report { command: ReportCommand::TopQueries { days, limit } } => {
                commands::report(g, config, false, days, limit).await
            }
            Command::Generate { count, seed, output } => commands::generate(count, seed, output.as_deref()),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
