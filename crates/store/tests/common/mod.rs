//! Helpers shared by the store's test files: PostgreSQL test databases.

/// The server tests create their databases on: `PLAZA_TEST_PG_URL`, or the local one.
pub fn pg_base_url() -> String {
    std::env::var("PLAZA_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// `url` with its database name replaced by `database`, keeping credentials, host and parameters.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A database name no other test run uses: tests run in parallel, in several processes at once.
/// `scripts/test` drops any `plaza_test_*` an interrupted run left behind.
pub fn fresh_database_name() -> String {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let salt = (std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos);
    format!("plaza_test_{:016x}", std::collections::hash_map::RandomState::new().hash_one(salt))
}

/// A plain client of the PostgreSQL server at `url`, its connection driven on the test's runtime.
pub async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {url} (set PLAZA_TEST_PG_URL): {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

pub async fn drop_database(admin: &tokio_postgres::Client, name: &str) {
    // Best effort: a database left behind costs disk space, not correctness.
    if let Err(e) = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await {
        eprintln!("could not drop test database {name}: {e}");
    }
}

/// A fresh, empty database on the test server, with the connection that made it (and drops it).
pub struct TestDatabase {
    pub admin: tokio_postgres::Client,
    pub name: String,
    /// The new database's URL.
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let base = pg_base_url();
        let name = fresh_database_name();
        let admin = pg_client(&base).await;
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create test database");
        let url = with_database(&base, &name);
        TestDatabase { admin, name, url }
    }

    pub async fn remove(self) {
        drop_database(&self.admin, &self.name).await;
    }
}
