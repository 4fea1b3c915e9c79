//! Helpers shared by the store's test files.

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
