//! Throwaway PostgreSQL databases for one benchmark run, created and dropped with `psql`.

use anyhow::Context;
use tokio::process::Command;

/// PostgreSQL on the loopback address with trust authentication, as the test suite expects it.
pub const BASE_URL: &str = "postgres://postgres@127.0.0.1:5432";
const PSQL_ARGS: [&str; 10] =
    ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"];

/// Whether PostgreSQL accepts connections on 127.0.0.1:5432.
pub async fn available() -> bool {
    Command::new("pg_isready").args(["-q", "-h", "127.0.0.1", "-p", "5432"]).status().await.is_ok_and(|s| s.success())
}

/// A fresh database `plaza_bench_<random>`; dropped by [`PgDatabase::drop_now`] or, failing that,
/// when the value is dropped.
pub struct PgDatabase {
    pub name: String,
    dropped: bool,
}

impl PgDatabase {
    pub async fn create() -> anyhow::Result<PgDatabase> {
        let name = format!("plaza_bench_{:016x}", rand::random::<u64>());
        psql(&format!("CREATE DATABASE {name}")).await?;
        Ok(PgDatabase { name, dropped: false })
    }

    pub fn url(&self) -> String {
        format!("{BASE_URL}/{}", self.name)
    }

    pub async fn drop_now(mut self) -> anyhow::Result<()> {
        self.dropped = true;
        psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if !self.dropped {
            // An error path skipped the orderly drop; a blocking psql call here still leaves no
            // database behind.
            let _ = std::process::Command::new("psql")
                .args(PSQL_ARGS)
                .arg("-qc")
                .arg(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                .output();
        }
    }
}

async fn psql(sql: &str) -> anyhow::Result<()> {
    let out = Command::new("psql").args(PSQL_ARGS).arg("-qc").arg(sql).output().await.context("running psql")?;
    anyhow::ensure!(out.status.success(), "psql -c {sql:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    Ok(())
}
