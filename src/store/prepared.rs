//! A prepared statement driven through SQLite's C API, for the audit
//! writer's inserts.
//!
//! rusqlite binds every text as `SQLITE_TRANSIENT`: SQLite copies each
//! value into an allocation of its own and frees it on the next bind. The
//! audit writer binds eight short texts per row, and those copies (with
//! rusqlite's statement-cache look-up, which hashes the whole multi-row
//! SQL, and clearing the copies on the way back to the cache) were a third
//! of a row's cost. Here text is bound as `SQLITE_STATIC`, which SQLite
//! reads in place: sound because [`Prepared::run`] binds, steps and clears
//! the bindings within one call, while the borrows of every bound value are
//! held (see [`Binder`]).

use std::ffi::{c_char, c_int, CStr};
use std::marker::PhantomData;
use std::ptr::NonNull;

use rusqlite::{ffi, Connection};

use super::Store;

/// One statement prepared on the store's connection, finalized on drop.
/// Not `Send` (it holds a raw pointer): it lives on the thread that made it.
pub struct Prepared {
    stmt: NonNull<ffi::sqlite3_stmt>,
    /// Keeps the connection open until the statement is finalized, and is
    /// the lock taken to finalize it.
    store: Store,
}

/// Binds one execution's parameters. Every value bound must outlive `'a`,
/// which outlives the [`Prepared::run`] call that ends with the bindings
/// cleared: SQLite never holds a pointer to a value that is gone.
pub struct Binder<'a> {
    stmt: NonNull<ffi::sqlite3_stmt>,
    db: *mut ffi::sqlite3,
    _borrows: PhantomData<&'a str>,
}

impl Prepared {
    /// Prepares `sql` on `conn`, which must be `store`'s connection (locked
    /// by the caller). Flagged persistent: it is kept for the writer's life.
    pub fn new(store: &Store, conn: &Connection, sql: &str) -> rusqlite::Result<Prepared> {
        let len = c_int::try_from(sql.len()).map_err(|_| too_big())?;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: `conn` is open for the call; `sql` is valid for `len`
        // bytes (SQLite reads no further, no NUL needed) and `stmt` is a
        // valid out-pointer.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                conn.handle(),
                sql.as_ptr().cast::<c_char>(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            // SAFETY: as above; SQLite reports the error on the connection.
            return Err(unsafe { error(conn.handle(), rc) });
        }
        let stmt = NonNull::new(stmt).ok_or_else(|| {
            rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_MISUSE),
                Some("empty statement".into()),
            )
        })?;
        Ok(Prepared {
            stmt,
            store: store.clone(),
        })
    }

    /// Binds with `bind`, runs the statement to its end once, resets it and
    /// clears its bindings. `conn` must be the connection it was prepared
    /// on, locked by the caller (rusqlite opens connections without
    /// SQLite's own mutex).
    pub fn run<'a>(
        &mut self,
        conn: &Connection,
        bind: impl FnOnce(&mut Binder<'a>) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        let stmt = self.stmt.as_ptr();
        // SAFETY: `stmt` is a live statement (finalized only on drop).
        let db = unsafe { ffi::sqlite3_db_handle(stmt) };
        // SAFETY: `handle` only reads the connection's pointer.
        if db != unsafe { conn.handle() } {
            return Err(rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_MISUSE),
                Some("statement used on another connection".into()),
            ));
        }
        let mut binder = Binder {
            stmt: self.stmt,
            db,
            _borrows: PhantomData,
        };
        let result = bind(&mut binder).and_then(|()| {
            // SAFETY: a live statement on the locked connection; every
            // bound text is borrowed for `'a`, beyond this call.
            match unsafe { ffi::sqlite3_step(stmt) } {
                ffi::SQLITE_DONE | ffi::SQLITE_ROW => Ok(()),
                // SAFETY: as above.
                rc => Err(unsafe { error(db, rc) }),
            }
        });
        // SAFETY: as above. Reset's code repeats a failed step's, already
        // reported; clearing drops every pointer to the borrowed texts
        // before their borrows end.
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
        }
        result
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        let stmt = self.stmt.as_ptr();
        let _ = self.store.run_blocking(|_conn| {
            // SAFETY: the statement is live and finalized once, here, under
            // the connection's lock; `store` keeps the connection open.
            unsafe { ffi::sqlite3_finalize(stmt) };
            Ok(())
        });
    }
}

impl<'a> Binder<'a> {
    /// Binds `value` to parameter `index` (1-based).
    pub fn int(&mut self, index: usize, value: i64) -> rusqlite::Result<()> {
        let i = param(index)?;
        // SAFETY: a live statement on the locked connection.
        self.check(unsafe { ffi::sqlite3_bind_int64(self.stmt.as_ptr(), i, value) })
    }

    /// Binds `value` to parameter `index` (1-based) without a copy.
    pub fn text(&mut self, index: usize, value: &'a str) -> rusqlite::Result<()> {
        let i = param(index)?;
        let len = c_int::try_from(value.len()).map_err(|_| too_big())?;
        // An empty `&str` may point nowhere; give SQLite a real byte.
        let ptr = if value.is_empty() {
            c"".as_ptr()
        } else {
            value.as_ptr().cast::<c_char>()
        };
        // SAFETY: a live statement on the locked connection. `ptr` is valid
        // for `len` bytes for `'a`, and `Prepared::run` clears the binding
        // before `'a` can end; SQLite never writes through a static text.
        self.check(unsafe {
            ffi::sqlite3_bind_text(self.stmt.as_ptr(), i, ptr, len, ffi::SQLITE_STATIC())
        })
    }

    /// Binds `value` or NULL.
    pub fn opt_text(&mut self, index: usize, value: Option<&'a str>) -> rusqlite::Result<()> {
        match value {
            Some(v) => self.text(index, v),
            None => {
                let i = param(index)?;
                // SAFETY: a live statement on the locked connection.
                self.check(unsafe { ffi::sqlite3_bind_null(self.stmt.as_ptr(), i) })
            }
        }
    }

    fn check(&self, rc: c_int) -> rusqlite::Result<()> {
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            // SAFETY: the statement's connection, open and locked.
            Err(unsafe { error(self.db, rc) })
        }
    }
}

fn param(index: usize) -> rusqlite::Result<c_int> {
    c_int::try_from(index).map_err(|_| rusqlite::Error::InvalidParameterCount(index, 0))
}

fn too_big() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_TOOBIG), None)
}

/// The connection's message for `rc`.
///
/// # Safety
/// `db` must be an open connection.
unsafe fn error(db: *mut ffi::sqlite3, rc: c_int) -> rusqlite::Error {
    let msg = ffi::sqlite3_errmsg(db);
    let msg = (!msg.is_null()).then(|| CStr::from_ptr(msg).to_string_lossy().into_owned());
    rusqlite::Error::SqliteFailure(ffi::Error::new(rc), msg)
}
