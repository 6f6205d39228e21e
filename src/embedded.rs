//! Private PostgreSQL and Redis servers, started from the machine's own binaries, for `hub dev` and
//! the test suite. Their files live in one directory and are reused by the next start.
//!
//! PostgreSQL refuses to run as root, so when we are root its files belong to, and its processes run
//! as, the `postgres` system user (Debian's packages create it).

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::unistd::{Uid, User};

/// A running private server and how to reach it.
#[derive(Debug, Clone)]
pub struct Service {
    pub port: u16,
    /// True when this call started it, false when it was already running.
    pub started: bool,
}

/// Where the private servers keep their files.
#[derive(Debug, Clone)]
pub struct Embedded {
    pub dir: PathBuf,
}

impl Embedded {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir: PathBuf = dir.into();
        // Commands run from `/` as another user, so every path handed to them must be absolute.
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        Embedded { dir }
    }

    fn postgres_home(&self) -> PathBuf {
        let home = self.dir.join("postgres");
        match postgres_user() {
            Ok(Some(user)) if !reachable_by(&user, &self.dir) => {
                // The checkout sits somewhere the postgres user cannot enter (e.g. /root): keep the
                // cluster in a per-checkout directory under /var/tmp instead.
                let tag = &hex::encode(sha2_digest(&self.dir))[..12];
                PathBuf::from(format!("/var/tmp/hub-postgres-{tag}"))
            }
            _ => home,
        }
    }

    /// Starts PostgreSQL on 127.0.0.1 unless it already runs; `port` 0 picks a free port the first
    /// time. Returns the port it listens on.
    pub fn postgres(&self, port: u16, fast_unsafe: bool) -> anyhow::Result<Service> {
        let bin = postgres_bin_dir()?;
        let home = self.postgres_home();
        let data = home.join("data");
        let user = postgres_user()?;
        if !data.join("PG_VERSION").exists() {
            fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
            fs::set_permissions(&home, fs::Permissions::from_mode(0o700))?;
            fs::set_permissions(&data, fs::Permissions::from_mode(0o700))?;
            if let Some(user) = &user {
                chown(&home, Some(user.uid.as_raw()), Some(user.gid.as_raw()))?;
                chown(&data, Some(user.uid.as_raw()), Some(user.gid.as_raw()))?;
            }
            run(
                as_user(Command::new(bin.join("initdb")), &user)
                    .args([
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "-E",
                        "UTF8",
                        "--locale=C",
                        "-D",
                    ])
                    .arg(&data),
                "initdb",
            )?;
        }
        if let Some(port) = running_postgres_port(&data) {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Service {
                    port,
                    started: false,
                });
            }
        }
        let port = if port == 0 { free_port()? } else { port };
        let mut options = format!("-h 127.0.0.1 -p {port} -k '' -c max_connections=500");
        if fast_unsafe {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        run(
            as_user(Command::new(bin.join("pg_ctl")), &user)
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(home.join("server.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"]),
            "pg_ctl start",
        )?;
        wait_for_port(port, Duration::from_secs(30))?;
        Ok(Service {
            port,
            started: true,
        })
    }

    pub fn stop_postgres(&self) -> anyhow::Result<()> {
        let bin = postgres_bin_dir()?;
        let user = postgres_user()?;
        let data = self.postgres_home().join("data");
        run(
            as_user(Command::new(bin.join("pg_ctl")), &user)
                .arg("-D")
                .arg(&data)
                .args(["-m", "fast", "-w", "stop"]),
            "pg_ctl stop",
        )
    }

    /// Starts Redis on 127.0.0.1 with an append-only file, unless it already runs.
    pub fn redis(&self, port: u16) -> anyhow::Result<Service> {
        let home = self.dir.join("redis");
        fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
        let port_file = home.join("port");
        if let Some(running) = fs::read_to_string(&port_file)
            .ok()
            .and_then(|text| text.trim().parse::<u16>().ok())
        {
            if pid_alive(&home.join("redis.pid"))
                && TcpStream::connect(("127.0.0.1", running)).is_ok()
            {
                return Ok(Service {
                    port: running,
                    started: false,
                });
            }
        }
        let port = if port == 0 { free_port()? } else { port };
        let binary = which("redis-server").context(
            "redis-server is not installed: run scripts/install-deps (or apt-get install redis-server)",
        )?;
        run(
            Command::new(binary)
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--appendonly", "yes", "--save", "", "--daemonize", "yes"])
                .arg("--dir")
                .arg(&home)
                .arg("--pidfile")
                .arg(home.join("redis.pid"))
                .arg("--logfile")
                .arg(home.join("redis.log")),
            "redis-server",
        )?;
        fs::write(&port_file, port.to_string())?;
        wait_for_port(port, Duration::from_secs(15))?;
        Ok(Service {
            port,
            started: true,
        })
    }

    pub fn stop_redis(&self) -> anyhow::Result<()> {
        let pid_file = self.dir.join("redis/redis.pid");
        if let Some(pid) = read_pid(&pid_file) {
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)
                .context("stopping redis")?;
        }
        Ok(())
    }
}

fn sha2_digest(path: &Path) -> Vec<u8> {
    use sha2::Digest;
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    sha2::Sha256::digest(canonical.to_string_lossy().as_bytes()).to_vec()
}

/// `Some(user)` when we are root and must hand PostgreSQL to another user.
fn postgres_user() -> anyhow::Result<Option<User>> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    match User::from_name("postgres")? {
        Some(user) => Ok(Some(user)),
        None => bail!(
            "running as root, PostgreSQL needs a `postgres` system user: \
             run scripts/install-deps (it installs postgresql, which creates the user)"
        ),
    }
}

/// Whether every directory above `path` lets `user` pass (the usual cause of failure: /root is 0700).
fn reachable_by(user: &User, path: &Path) -> bool {
    let Ok(absolute) = std::path::absolute(path) else {
        return false;
    };
    absolute
        .ancestors()
        .skip(1)
        .all(|dir| match fs::metadata(dir) {
            Ok(meta) => {
                use std::os::unix::fs::MetadataExt;
                let mode = meta.mode();
                mode & 0o001 != 0 || (meta.uid() == user.uid.as_raw() && mode & 0o100 != 0)
            }
            Err(_) => true,
        })
}

fn as_user(mut command: Command, user: &Option<User>) -> Command {
    if let Some(user) = user {
        command
            .uid(user.uid.as_raw())
            .gid(user.gid.as_raw())
            .current_dir("/");
    }
    command.env("LC_ALL", "C");
    command
}

fn postgres_bin_dir() -> anyhow::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    which("initdb").and_then(|path| path.parent().map(Path::to_path_buf)).context(
        "PostgreSQL server binaries (initdb, pg_ctl) are not installed: run scripts/install-deps",
    )
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("starting {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn running_postgres_port(data: &Path) -> Option<u16> {
    let pid_file = data.join("postmaster.pid");
    if !pid_alive(&pid_file) {
        return None;
    }
    let text = fs::read_to_string(pid_file).ok()?;
    text.lines().nth(3)?.trim().parse().ok()
}

fn read_pid(pid_file: &Path) -> Option<nix::unistd::Pid> {
    let text = fs::read_to_string(pid_file).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    Some(nix::unistd::Pid::from_raw(pid))
}

fn pid_alive(pid_file: &Path) -> bool {
    read_pid(pid_file).is_some_and(|pid| nix::sys::signal::kill(pid, None).is_ok())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

fn wait_for_port(port: u16, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("nothing listens on 127.0.0.1:{port} after {timeout:?}")
}
