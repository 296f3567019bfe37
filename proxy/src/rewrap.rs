//! `outscope vault rewrap`: re-encrypts the local vault's Redis records whose data key is
//! wrapped by an older transit key version (or that were sealed by a static key) under a
//! fresh data key of the latest version, so older versions can be retired
//! (`min_decryption_version`). See docs/key-management.md.
//!
//! Walks the store with `SCAN`, one page at a time, and prints a progress line per page
//! with the cursor to resume from. Each record is replaced atomically and only if nobody
//! changed it meanwhile; records already at the latest version are skipped. So the command
//! can be interrupted at any point and run again (from 0 or from a printed cursor). It
//! prints counts and cursors only: never a token, a card number or key material.

use std::path::PathBuf;
use std::process::ExitCode;

use outscope_config::{LocalStore, Tokenizer as TokenizerConfig};
use outscope_tokenizer::{LocalVault, RewrapError, RewrapPage, Tokenizer};

use crate::cli::EXIT_CONFIG;

/// `outscope vault rewrap` arguments.
#[derive(Debug, clap::Args)]
pub struct RewrapArgs {
    /// Configuration file (its `[tokenizer]`, `[redis]` and `[vault]` are used).
    #[arg(short, long, env = "OUTSCOPE_CONFIG")]
    pub config: PathBuf,
    /// Resume from this SCAN cursor (printed by an earlier run); 0 starts over.
    #[arg(long, default_value_t = 0)]
    pub cursor: u64,
    /// Stop after about this many records (whole pages); resume with the printed cursor.
    /// At least 1.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Count the records that would be rewrapped; write nothing, fetch no data key.
    #[arg(long)]
    pub dry_run: bool,
    /// Keys asked for per SCAN step.
    #[arg(long, default_value_t = 200)]
    pub batch: usize,
}

/// Exit status when the walk stopped early on an error (resume from the printed cursor), or
/// when some records could not be opened (`failed` > 0, with or without `--limit`).
const EXIT_STOPPED: u8 = 1;

pub fn run(args: &RewrapArgs) -> ExitCode {
    let Some(config) = crate::cli::load(&args.config, &outscope_config::Checks::ALL) else {
        return ExitCode::from(EXIT_CONFIG);
    };
    let Some(TokenizerConfig::Local(local)) = &config.tokenizer else {
        eprintln!("outscope vault rewrap: the configuration has no [tokenizer] kind = \"local\"");
        return ExitCode::from(EXIT_CONFIG);
    };
    if local.store == LocalStore::Memory {
        println!(
            "store = \"memory\": records live inside each proxy process and are gone when it \
             stops; each was sealed under the data key current when it was made. Nothing to \
             rewrap (restart the proxies to drop records under old keys)."
        );
        return ExitCode::SUCCESS;
    }
    let Some(envelope) = &local.envelope else {
        eprintln!(
            "outscope vault rewrap: tokenizer.transit_key is not set; static key rings are \
             rotated by adding a key line (see docs/key-management.md)"
        );
        return ExitCode::from(EXIT_CONFIG);
    };
    let transit_key = format!("{}/{}", envelope.mount, envelope.key);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match vault(&config).await {
            Ok(vault) => walk(&vault, &transit_key, args).await,
            Err(code) => code,
        }
    })
}

/// The local vault the configuration describes, its secrets read as `run` reads them.
async fn vault(config: &outscope_config::Config) -> Result<LocalVault, ExitCode> {
    let outcome = crate::secrets::Resolver::new().resolve(config, None).await;
    let resolved = match outcome.resolved {
        Ok(resolved) => resolved,
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            return Err(ExitCode::from(EXIT_CONFIG));
        }
    };
    match crate::protect::build_tokenizer((config, &resolved)) {
        Ok(Some(Tokenizer::Local(vault))) => Ok(vault),
        Ok(_) => Err(ExitCode::from(EXIT_CONFIG)),
        Err(e) => {
            eprintln!("{e}");
            Err(ExitCode::from(EXIT_CONFIG))
        }
    }
}

async fn walk(vault: &LocalVault, transit_key: &str, args: &RewrapArgs) -> ExitCode {
    let Some(keys) = vault.data_keys() else {
        eprintln!(
            "outscope vault rewrap: no Vault client for transit key {transit_key} (check [vault])"
        );
        return ExitCode::from(EXIT_CONFIG);
    };
    let latest = match keys.latest_version().await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("cannot read transit key {transit_key}: {e}");
            return ExitCode::from(EXIT_STOPPED);
        }
    };
    if !args.dry_run {
        match keys.rotate().await {
            Ok(current) => println!(
                "data key {} (transit {transit_key} version {}); latest version {latest}",
                current.id, current.version
            ),
            Err(e) => {
                eprintln!("cannot fetch a data key from transit key {transit_key}: {e}");
                return ExitCode::from(EXIT_STOPPED);
            }
        }
    }
    let mut total = RewrapPage::default();
    let mut cursor = args.cursor;
    let batch = args.batch.max(1);
    loop {
        let page = match vault.rewrap_page(cursor, batch, latest, args.dry_run).await {
            Ok(page) => page,
            Err(RewrapError::MemoryStore) => return ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("stopped: {e}; resume with --cursor {cursor}");
                print_total(&total, latest, args.dry_run);
                return ExitCode::from(EXIT_STOPPED);
            }
        };
        add(&mut total, &page);
        cursor = page.cursor;
        println!(
            "cursor={cursor} scanned={} stale={} rewrapped={} changed={} failed={}",
            total.scanned, total.stale, total.rewrapped, total.changed, total.failed
        );
        if cursor == 0 {
            break;
        }
        if args.limit.is_some_and(|limit| total.scanned >= limit) {
            println!("stopped at --limit; resume with --cursor {cursor}");
            print_total(&total, latest, args.dry_run);
            return if total.failed > 0 {
                ExitCode::from(EXIT_STOPPED)
            } else {
                ExitCode::SUCCESS
            };
        }
    }
    print_total(&total, latest, args.dry_run);
    if total.failed > 0 {
        return ExitCode::from(EXIT_STOPPED);
    }
    if !args.dry_run && args.cursor == 0 && total.changed == 0 {
        println!(
            "every record scanned is at transit key version {latest}. Before retiring older \
             versions, check that every instance seals with version {latest} \
             (outscope_data_key_transit_version = {latest} on each, which they reach within a \
             minute of the transit key's rotation), then run `outscope vault rewrap --dry-run` \
             again: only when it reports stale=0 write {}/keys/{}/config \
             min_decryption_version={latest}",
            transit_key.rsplit_once('/').map_or("transit", |(m, _)| m),
            transit_key.rsplit_once('/').map_or(transit_key, |(_, k)| k)
        );
    }
    ExitCode::SUCCESS
}

fn add(total: &mut RewrapPage, page: &RewrapPage) {
    total.scanned += page.scanned;
    total.stale += page.stale;
    total.rewrapped += page.rewrapped;
    total.changed += page.changed;
    total.failed += page.failed;
}

fn print_total(total: &RewrapPage, latest: u64, dry_run: bool) {
    let mode = if dry_run { " (dry run)" } else { "" };
    println!(
        "done{mode}: scanned={} stale={} rewrapped={} changed={} failed={} latest_version={latest}",
        total.scanned, total.stale, total.rewrapped, total.changed, total.failed
    );
}
