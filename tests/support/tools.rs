//! Where the peer programs are.
//!
//! cosign and skopeo are the wrappers written by `scripts/install-test-deps.sh`
//! into `RSIGN_TEST_TOOLS` (default `<workspace>/.tools/bin`); docker-registry,
//! htpasswd and openssl are Debian 12 packages in `/usr/bin`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Paths of the peer programs, all checked to exist.
#[derive(Debug, Clone)]
pub struct Tools {
    /// cosign 2.5 wrapper.
    pub cosign: PathBuf,
    /// skopeo 1.18 wrapper.
    pub skopeo: PathBuf,
    /// CNCF distribution 2.8 (`docker-registry serve CONFIG`).
    pub registry: PathBuf,
    /// `htpasswd` from apache2-utils.
    pub htpasswd: PathBuf,
    /// The openssl CLI.
    pub openssl: PathBuf,
}

/// The workspace root (`crates/cli/../..`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `rsign` binary built for these tests.
pub fn rsign_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rsign"))
}

/// The directory holding the cosign and skopeo wrappers.
pub fn tools_dir() -> PathBuf {
    match std::env::var_os("RSIGN_TEST_TOOLS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join(".tools/bin"),
    }
}

/// Locates every peer once; panics naming what is missing and how to get it.
pub fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let dir = tools_dir();
        let t = Tools {
            cosign: dir.join("cosign"),
            skopeo: dir.join("skopeo"),
            registry: PathBuf::from("/usr/bin/docker-registry"),
            htpasswd: PathBuf::from("/usr/bin/htpasswd"),
            openssl: PathBuf::from("/usr/bin/openssl"),
        };
        let missing: Vec<String> = [&t.cosign, &t.skopeo, &t.registry, &t.htpasswd, &t.openssl]
            .into_iter()
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        assert!(
            missing.is_empty(),
            "peer tools missing: {}\nrun `sudo scripts/install-test-deps.sh` (it unpacks cosign/skopeo into \
             .tools/bin; set RSIGN_TEST_TOOLS to use another directory)",
            missing.join(", ")
        );
        t
    })
}
