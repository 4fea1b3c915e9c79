//! A SQLite VFS that gathers the WAL writes of a commit into one `pwrite`.
//!
//! SQLite writes each WAL frame with two `pwrite` calls, its 24-byte header and then its page, so a
//! commit of `n` pages costs `2n` system calls, and the kernel takes its per-call and per-page-cache
//! page steps for each. Plaza's writer commits batches of a few dozen pages (and moves of hundreds)
//! many thousand times a second; those calls were a fifth of the writer thread's time.
//!
//! [`register`] adds the VFS [`NAME`], which opens every file through the platform's default VFS
//! and passes every call through to it, except a WAL's writes: they are gathered in memory while
//! each continues the last (or overwrites what is gathered), and written in as few calls as the
//! default VFS takes ([`WRITE_CHUNK`] bytes each):
//!
//! - **inside a write**, where a failure fails that write, and SQLite's transaction with it, as
//!   before: once the page of a commit frame (a frame whose header gives the database's size) is
//!   in, so that a commit's frames reach the file before SQLite's next step publishes them to other
//!   connections in the WAL index; once a commit frame's header is written again after a read (SQLite
//!   rewriting the checksums of frames it overwrote); before a write that neither continues nor
//!   overwrites what is gathered; and past [`GATHER_LIMIT`] bytes;
//! - **before anything else is done with the WAL** (a read, sync, truncate, size, file control,
//!   close), and before the database file's shared-memory calls, through which SQLite publishes
//!   frames in the WAL index. SQLite was told those writes succeeded, and a failure here could let
//!   a transaction go on without them, so a failure stops the process, as the store does when an
//!   fsync fails: nothing written since was acknowledged, and recovery keeps the commits whose
//!   frames are whole. (Only frames a large transaction spilled from its page cache, or
//!   rewritten checksums, are ever written this way.)
//!
//! Nothing is held past the commit that wrote it, so what is durable, what other connections see,
//! and what a crash can lose are SQLite's own: a crash before the gathered write is a crash before
//! the commit. Only connections opened with this VFS gather; every other connection to the same
//! database (readers, a checkpointer) may use the default VFS, whose locks and shared memory this
//! VFS's files share, since they are the default VFS's own files underneath.

use std::ffi::{CStr, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;

use rusqlite::ffi;

/// The VFS's name, for `Connection::open_with_flags_and_vfs`.
pub const NAME: &CStr = c"plaza-walbuf";

/// Bytes gathered before they are written whatever comes next (a move's commit can be a few
/// megabytes).
pub const GATHER_LIMIT: usize = 1 << 20;

/// The most one call to the default VFS's xWrite writes: the unix VFS writes at most 128 KiB − 1
/// bytes per `pwrite` (it never needs more than a page) and takes a shorter write for a full disk.
pub const WRITE_CHUNK: usize = 64 * 1024;

/// The WAL's frame header: page number, database size after a commit (0 otherwise), two salts,
/// two checksums.
const FRAME_HEADER: usize = 24;

/// Registers the VFS (once per process; later calls return the first outcome).
pub fn register() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED.get_or_init(register_once).clone()
}

/// The default VFS this one wraps.
struct Base(*mut ffi::sqlite3_vfs);
// SAFETY: SQLite's VFS objects are immutable once registered and safe to call from any thread.
unsafe impl Send for Base {}
unsafe impl Sync for Base {}

static BASE: OnceLock<Base> = OnceLock::new();

fn register_once() -> Result<(), String> {
    // SAFETY: sqlite3_initialize and sqlite3_vfs_find are safe to call at any time; the default
    // VFS lives as long as the process.
    let base = unsafe {
        let rc = ffi::sqlite3_initialize();
        if rc != ffi::SQLITE_OK {
            return Err(format!("sqlite3_initialize failed ({rc})"));
        }
        ffi::sqlite3_vfs_find(ptr::null())
    };
    if base.is_null() {
        return Err("SQLite has no default VFS".into());
    }
    let _ = BASE.set(Base(base));
    // SAFETY: `base` is a valid VFS. The copy keeps its methods, which do not look at the VFS
    // pointer they are given, and its `pAppData`; opening goes through `open` below, which hands
    // the default VFS its own pointer.
    let vfs = unsafe {
        let mut vfs = *base;
        vfs.pNext = ptr::null_mut();
        vfs.zName = NAME.as_ptr();
        vfs.szOsFile = (SHIM_SIZE + (*base).szOsFile as usize) as c_int;
        vfs.xOpen = Some(open);
        Box::leak(Box::new(vfs))
    };
    // SAFETY: `vfs` is leaked, so it outlives every connection.
    let rc = unsafe { ffi::sqlite3_vfs_register(vfs, 0) };
    if rc != ffi::SQLITE_OK {
        return Err(format!("sqlite3_vfs_register failed ({rc})"));
    }
    Ok(())
}

/// A file of this VFS: the default VFS's file follows it in the same allocation (SQLite allocates
/// `szOsFile` bytes).
#[repr(C)]
struct Shim {
    /// First, as SQLite requires: the methods SQLite calls.
    base: ffi::sqlite3_file,
    /// The default VFS's file.
    real: *mut ffi::sqlite3_file,
    /// A WAL: its writes are gathered.
    wal: bool,
    /// For a WAL, its database's file; for a database, its open WAL. Each is null when the other
    /// is closed (SQLite closes a WAL before its database).
    peer: *mut Shim,
    /// The last write was the header of a commit frame.
    commit_header: bool,
    /// The last call on this WAL was a read.
    read_last: bool,
    /// The file offset of `gathered[0]`.
    start: i64,
    gathered: Vec<u8>,
}

/// The `Shim`'s size rounded up so that the default VFS's file after it is aligned.
const SHIM_SIZE: usize = std::mem::size_of::<Shim>().next_multiple_of(16);

impl Shim {
    fn methods(&self) -> &ffi::sqlite3_io_methods {
        // SAFETY: `real` is open while `self` is (see `open`), and its methods outlive it.
        unsafe { &*(*self.real).pMethods }
    }

    /// Writes what is gathered, in as few calls as the default VFS takes. Written or failed, it
    /// is no longer held: a failure is the caller's to report.
    fn flush(&mut self) -> c_int {
        if self.gathered.is_empty() {
            return ffi::SQLITE_OK;
        }
        let mut rc = ffi::SQLITE_OK;
        let mut offset = self.start;
        let write = self.methods().xWrite.expect("xWrite");
        for chunk in self.gathered.chunks(WRITE_CHUNK) {
            // SAFETY: the default VFS's xWrite on its open file, with `chunk.len()` readable bytes.
            rc = unsafe { write(self.real, chunk.as_ptr().cast(), chunk.len() as c_int, offset) };
            if rc != ffi::SQLITE_OK {
                break;
            }
            offset += chunk.len() as i64;
        }
        self.gathered.clear();
        rc
    }

    /// Writes what is gathered where a failure cannot be reported to the write SQLite believes
    /// done (see the module's docs).
    fn flush_or_stop(&mut self) {
        let rc = self.flush();
        if rc != ffi::SQLITE_OK {
            tracing::error!(
                code = rc,
                "sqlite: writing gathered WAL frames failed after SQLite counted them written; stopping"
            );
            std::process::abort();
        }
    }

    /// Gathers a write to the WAL, writing what is gathered when a commit frame is whole.
    fn gather(&mut self, data: &[u8], offset: i64) -> c_int {
        let end = self.start + self.gathered.len() as i64;
        if self.gathered.is_empty() {
            self.start = offset;
            self.gathered.extend_from_slice(data);
        } else if offset == end {
            self.gathered.extend_from_slice(data);
        } else if offset >= self.start && offset + data.len() as i64 <= end {
            let at = (offset - self.start) as usize;
            self.gathered[at..at + data.len()].copy_from_slice(data);
        } else {
            let rc = self.flush();
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            self.start = offset;
            self.gathered.extend_from_slice(data);
        }
        let commit_page = self.commit_header;
        self.commit_header = data.len() == FRAME_HEADER && data[4..8] != [0; 4];
        // A commit frame's header written after a read is SQLite rewriting checksums: no page
        // follows it.
        let rewritten = self.commit_header && self.read_last;
        self.read_last = false;
        if commit_page || rewritten || self.gathered.len() >= GATHER_LIMIT {
            return self.flush();
        }
        ffi::SQLITE_OK
    }
}

/// # Safety
/// `f` must be a file this VFS opened.
unsafe fn shim<'a>(f: *mut ffi::sqlite3_file) -> &'a mut Shim {
    // SAFETY: every file this VFS opens starts with a `Shim`.
    unsafe { &mut *f.cast::<Shim>() }
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let base = BASE.get().expect("registered").0;
    // SAFETY: SQLite gave us `szOsFile` bytes at `file`: a `Shim`, then the default VFS's file.
    unsafe {
        let real = file.cast::<u8>().add(SHIM_SIZE).cast::<ffi::sqlite3_file>();
        let wal = flags & ffi::SQLITE_OPEN_WAL != 0;
        ptr::write(
            file.cast::<Shim>(),
            Shim {
                base: ffi::sqlite3_file { pMethods: ptr::null() },
                real,
                wal,
                peer: ptr::null_mut(),
                commit_header: false,
                read_last: false,
                start: 0,
                gathered: Vec::new(),
            },
        );
        (*real).pMethods = ptr::null();
        let rc = ((*base).xOpen.expect("xOpen"))(base, name, real, flags, out_flags);
        if rc != ffi::SQLITE_OK || (*real).pMethods.is_null() {
            if !(*real).pMethods.is_null() {
                ((*(*real).pMethods).xClose.expect("xClose"))(real);
            }
            ptr::drop_in_place(file.cast::<Shim>());
            (*file).pMethods = ptr::null();
            return if rc == ffi::SQLITE_OK { ffi::SQLITE_CANTOPEN } else { rc };
        }
        (*file).pMethods = &METHODS;
        if wal {
            // The database file this WAL belongs to, opened by the same connection through this
            // VFS: its shared-memory calls write what this WAL has gathered.
            let db = ffi::sqlite3_database_file_object(name);
            if !db.is_null() && ptr::eq((*db).pMethods, &METHODS) {
                let db = db.cast::<Shim>();
                (*db).peer = file.cast::<Shim>();
                (*file.cast::<Shim>()).peer = db;
            }
        }
        ffi::SQLITE_OK
    }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

/// Before a call on a WAL (`wal`) or on a database's shared memory (`peer`): writes what the WAL
/// has gathered.
enum Before {
    Nothing,
    Wal,
    Peer,
}

/// Calls the default VFS's method `$m` on the file under `$f`, after `$before`.
macro_rules! pass {
    ($f:expr, $before:expr, $m:ident $(, $arg:expr)*) => {{
        // SAFETY: SQLite calls these only on files this VFS opened.
        let s = unsafe { shim($f) };
        match $before {
            Before::Wal if s.wal => s.flush_or_stop(),
            // SAFETY: a database's `peer` is its open WAL (`close` unlinks them).
            Before::Peer if !s.wal && !s.peer.is_null() => unsafe { (*s.peer).flush_or_stop() },
            _ => {}
        }
        // SAFETY: the default VFS's method on its own open file.
        unsafe { (s.methods().$m.expect(stringify!($m)))(s.real $(, $arg)*) }
    }};
}

unsafe extern "C" fn close(f: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes only files this VFS opened, once.
    unsafe {
        let s = shim(f);
        if s.wal {
            s.flush_or_stop();
        }
        if !s.peer.is_null() {
            (*s.peer).peer = ptr::null_mut();
        }
        let rc = (s.methods().xClose.expect("xClose"))(s.real);
        ptr::drop_in_place(f.cast::<Shim>());
        rc
    }
}

unsafe extern "C" fn read(f: *mut ffi::sqlite3_file, out: *mut c_void, amount: c_int, offset: i64) -> c_int {
    // SAFETY: SQLite calls this only on files this VFS opened.
    unsafe { shim(f).read_last = true };
    pass!(f, Before::Wal, xRead, out, amount, offset)
}

unsafe extern "C" fn write(f: *mut ffi::sqlite3_file, data: *const c_void, amount: c_int, offset: i64) -> c_int {
    // SAFETY: SQLite calls this only on files this VFS opened, with `amount` readable bytes.
    unsafe {
        let s = shim(f);
        if !s.wal || amount <= 0 {
            return (s.methods().xWrite.expect("xWrite"))(s.real, data, amount, offset);
        }
        s.gather(std::slice::from_raw_parts(data.cast::<u8>(), amount as usize), offset)
    }
}

unsafe extern "C" fn truncate(f: *mut ffi::sqlite3_file, size: i64) -> c_int {
    pass!(f, Before::Wal, xTruncate, size)
}

unsafe extern "C" fn sync(f: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    pass!(f, Before::Wal, xSync, flags)
}

unsafe extern "C" fn file_size(f: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    pass!(f, Before::Wal, xFileSize, size)
}

unsafe extern "C" fn lock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    pass!(f, Before::Nothing, xLock, level)
}

unsafe extern "C" fn unlock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    pass!(f, Before::Nothing, xUnlock, level)
}

unsafe extern "C" fn check_reserved_lock(f: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    pass!(f, Before::Nothing, xCheckReservedLock, out)
}

unsafe extern "C" fn file_control(f: *mut ffi::sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    pass!(f, Before::Wal, xFileControl, op, arg)
}

unsafe extern "C" fn sector_size(f: *mut ffi::sqlite3_file) -> c_int {
    pass!(f, Before::Nothing, xSectorSize)
}

unsafe extern "C" fn device_characteristics(f: *mut ffi::sqlite3_file) -> c_int {
    pass!(f, Before::Nothing, xDeviceCharacteristics)
}

unsafe extern "C" fn shm_map(
    f: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    pass!(f, Before::Peer, xShmMap, region, size, extend, out)
}

unsafe extern "C" fn shm_lock(f: *mut ffi::sqlite3_file, offset: c_int, n: c_int, flags: c_int) -> c_int {
    pass!(f, Before::Peer, xShmLock, offset, n, flags)
}

unsafe extern "C" fn shm_barrier(f: *mut ffi::sqlite3_file) {
    pass!(f, Before::Peer, xShmBarrier)
}

unsafe extern "C" fn shm_unmap(f: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    pass!(f, Before::Peer, xShmUnmap, delete)
}

unsafe extern "C" fn fetch(f: *mut ffi::sqlite3_file, offset: i64, amount: c_int, out: *mut *mut c_void) -> c_int {
    pass!(f, Before::Wal, xFetch, offset, amount, out)
}

unsafe extern "C" fn unfetch(f: *mut ffi::sqlite3_file, offset: i64, p: *mut c_void) -> c_int {
    pass!(f, Before::Nothing, xUnfetch, offset, p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{Connection, OpenFlags, params};
    use std::path::Path;

    fn writer(path: &Path) -> Connection {
        register().unwrap();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        let conn = Connection::open_with_flags_and_vfs(path, flags, NAME).unwrap();
        conn.pragma_update(None, "page_size", 2048).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)").unwrap();
        conn
    }

    fn rows(conn: &Connection) -> (i64, i64) {
        conn.query_row("SELECT COUNT(*), COALESCE(SUM(length(v)), 0) FROM t", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
    }

    /// What a crash would leave: the database and its WAL as they are in the file system now,
    /// opened elsewhere by the default VFS, which recovers the WAL from its frames and checksums.
    fn after_crash(path: &Path) -> (i64, i64) {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("copy.db");
        std::fs::copy(path, &copy).unwrap();
        std::fs::copy(path.with_extension("db-wal"), dir.path().join("copy.db-wal")).unwrap();
        let conn = Connection::open(&copy).unwrap();
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
        rows(&conn)
    }

    #[test]
    fn other_connections_see_each_commit_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let w = writer(&path);
        let r = Connection::open(&path).unwrap();
        for k in 1..=300_i64 {
            // Several pages per commit, so that frames are gathered.
            let tx = w.unchecked_transaction().unwrap();
            for j in 0..8 {
                tx.execute("INSERT INTO t VALUES (?1, ?2)", params![k * 8 + j, "v".repeat(700)]).unwrap();
            }
            tx.commit().unwrap();
            assert_eq!(rows(&r), (k * 8, k * 8 * 700));
        }
        assert_eq!(after_crash(&path), (2400, 2400 * 700));
    }

    #[test]
    fn transactions_larger_than_the_cache_and_the_gathering_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let w = writer(&path);
        // A tiny cache spills pages to the WAL mid-transaction, and rewriting them then overwrites
        // their frames and their checksums.
        w.pragma_update(None, "cache_size", 8).unwrap();
        let tx = w.unchecked_transaction().unwrap();
        for k in 0..20_000_i64 {
            tx.execute("INSERT INTO t VALUES (?1, ?2)", params![k, "x".repeat(100)]).unwrap();
        }
        tx.execute("UPDATE t SET v = 'yy' WHERE k % 3 = 0", []).unwrap();
        tx.commit().unwrap();
        let tx = w.unchecked_transaction().unwrap();
        tx.execute("UPDATE t SET v = 'zzz' WHERE k % 3 = 1", []).unwrap();
        tx.execute("DELETE FROM t WHERE k % 7 = 0", []).unwrap();
        tx.commit().unwrap();
        let expect = rows(&w);
        assert_eq!(rows(&Connection::open(&path).unwrap()), expect);
        assert_eq!(after_crash(&path), expect);
    }

    #[test]
    fn a_rolled_back_transaction_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let w = writer(&path);
        w.pragma_update(None, "cache_size", 8).unwrap();
        w.execute("INSERT INTO t VALUES (1, 'kept')", []).unwrap();
        {
            let tx = w.unchecked_transaction().unwrap();
            for k in 2..5_000_i64 {
                tx.execute("INSERT INTO t VALUES (?1, ?2)", params![k, "x".repeat(200)]).unwrap();
            }
            // Dropped: rolled back after spilling frames to the WAL.
        }
        w.execute("INSERT INTO t VALUES (2, 'also kept')", []).unwrap();
        assert_eq!(rows(&Connection::open(&path).unwrap()), (2, 13));
        assert_eq!(after_crash(&path), (2, 13));
    }

    #[test]
    fn checkpoints_and_restarts_of_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let w = writer(&path);
        w.pragma_update(None, "journal_size_limit", 64 * 1024).unwrap();
        let r = Connection::open(&path).unwrap();
        for round in 1..=20_i64 {
            let tx = w.unchecked_transaction().unwrap();
            for j in 0..50 {
                tx.execute("INSERT INTO t VALUES (?1, ?2)", params![round * 100 + j, "w".repeat(300)]).unwrap();
            }
            tx.commit().unwrap();
            // Every few commits the WAL is copied back and, at the next write, starts over.
            if round % 3 == 0 {
                w.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
            }
            assert_eq!(rows(&r), (round * 50, round * 50 * 300));
        }
        assert_eq!(after_crash(&path), (1000, 1000 * 300));
    }
}
