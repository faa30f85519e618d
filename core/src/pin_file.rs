//! The pin file of the native adapters (feature `rustls`): the one place the core touches a
//! file, because the certificate verifier that records a pin on first use runs inside rustls,
//! shared by every native adapter. The format and the rules are [`crate::pins`]'.
//!
//! A change is made under an exclusive advisory lock on `<file>.lock` (a sidecar: the pin
//! file itself is replaced, so a lock on it would not outlive the write): the file is read
//! again, the change applied to what is there now, and the result written to a temporary file
//! next to it and renamed over it. Writers that hold the lock in turn lose nothing, and a
//! reader sees the old file or the new one, never half of one.
//!
//! ```
//! use proxmox_proto::pin_file;
//! use proxmox_proto::tls::Fingerprint;
//! let dir = std::env::temp_dir().join(format!("pin-file-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("pins");
//! assert!(pin_file::read(&path).unwrap().pins("pve1", 8006).is_empty()); // no file yet
//! let fp = Fingerprint::of_der(b"pve1's certificate");
//! pin_file::update(&path, |s| s.insert("pve1", 8006, fp)).unwrap();
//! assert_eq!(pin_file::read(&path).unwrap().pins("pve1", 8006), vec![fp]);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use crate::pins::PinStore;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Read the pin file at `path`; a file that does not exist is an empty store. The error
/// names the file and what is wrong.
pub fn read(path: &Path) -> Result<PinStore, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => PinStore::parse(&text).map_err(|e| {
            format!(
                "the pin file {}: {e}; correct or remove that line",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PinStore::new()),
        Err(e) => Err(format!("cannot read the pin file {}: {e}", path.display())),
    }
}

/// Apply `change` to the pin file at `path` as it is now, under its lock, and replace the
/// file with the result (created, with its directory's permissions, when missing). Returns
/// the store as written, which holds what other writers added since this one last read.
pub fn update(path: &Path, change: impl FnOnce(&mut PinStore)) -> Result<PinStore, String> {
    let failed = |what: &str, e: std::io::Error| {
        format!(
            "cannot {what} the pin file {}: {e} (is its directory writable?)",
            path.display()
        )
    };
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(sidecar(path, "lock"))
        .map_err(|e| failed("lock", e))?;
    lock.lock().map_err(|e| failed("lock", e))?;
    let mut store = read(path)?;
    change(&mut store);
    let tmp = sidecar(path, &format!("tmp-{}", std::process::id()));
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(store.to_text().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed("write", e));
    }
    // Dropping `lock` releases it.
    drop(lock);
    Ok(store)
}

/// `<path>.<suffix>`, in the pin file's directory.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::Fingerprint;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pin-file-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let d = dir("writers");
        let path = d.join("pins");
        std::fs::write(&path, "# kept\n").expect("seed");
        let writers: Vec<_> = (0..16)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for j in 0..8 {
                        let fp = Fingerprint::of_der(format!("{i}/{j}").as_bytes());
                        update(&path, |s| s.insert(&format!("node{i}"), 8006 + j, fp))
                            .expect("update");
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        let store = read(&path).expect("read");
        for i in 0..16 {
            for j in 0..8 {
                let fp = Fingerprint::of_der(format!("{i}/{j}").as_bytes());
                assert_eq!(
                    store.pins(&format!("node{i}"), 8006 + j),
                    vec![fp],
                    "{i}/{j}"
                );
            }
        }
        assert!(store.to_text().starts_with("# kept\n"));
        let left: Vec<_> = std::fs::read_dir(&d)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(left.iter().all(|n| !n.contains("tmp")), "{left:?}");
        std::fs::remove_dir_all(&d).expect("cleanup");
    }

    #[test]
    fn a_bad_line_names_the_file_and_the_line() {
        let d = dir("bad");
        let path = d.join("pins");
        std::fs::write(&path, "pve1 8006 AB:CD\n").expect("seed");
        let e = read(&path).unwrap_err();
        assert!(e.contains("pins") && e.contains("line 1"), "{e}");
        // An update refuses to write over a file it cannot read, rather than lose its lines.
        assert!(update(&path, |_| {}).is_err());
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "pve1 8006 AB:CD\n"
        );
        std::fs::remove_dir_all(&d).expect("cleanup");
    }

    #[test]
    fn an_unwritable_place_is_named() {
        let e = update(Path::new("/nonexistent-dir/pins"), |_| {}).unwrap_err();
        assert!(
            e.contains("/nonexistent-dir/pins") && e.contains("writable"),
            "{e}"
        );
    }
}
