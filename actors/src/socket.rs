//! The TCP socket under a WebSocket, captured when its connection was accepted. A client that
//! stops reading stops its connection from writing, so a close frame can wait for ever behind
//! the data it has not read: a session it is stuck on ends the connection through its socket.

use std::any::Any;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::dev::Extensions;
use nix::sys::socket::{setsockopt, shutdown, sockopt::Linger, Shutdown};

/// Linux's `SO_COOKIE`: a number the kernel gives each socket, never reused while it runs.
const SO_COOKIE: nix::libc::c_int = 57;

/// A socket's descriptor, with the cookie of the socket it named when it was captured.
#[derive(Clone, Copy, Debug)]
struct Captured {
    fd: RawFd,
    cookie: u64,
}

/// A connection's socket, until the connection lets go of it.
#[derive(Clone, Debug)]
pub struct Socket(Arc<Mutex<Option<Captured>>>);

fn cookie_of(fd: RawFd) -> Option<u64> {
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as nix::libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cookie`, which holds that many.
    let result = unsafe {
        nix::libc::getsockopt(
            fd,
            nix::libc::SOL_SOCKET,
            SO_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    (result == 0).then_some(cookie)
}

/// The connection's hold on its socket, kept in the connection's extensions. actix's HTTP/1
/// dispatcher drops those before the connection's stream (it declares them first), so the
/// descriptor is released before it is closed and can be reused; and [`Socket::kill`] checks the
/// socket's cookie besides, in case anything kept the extensions alive longer.
#[derive(Debug)]
pub struct SocketOwner(Socket);

impl SocketOwner {
    pub fn socket(&self) -> Socket {
        self.0.clone()
    }
}

impl Drop for SocketOwner {
    fn drop(&mut self) {
        *self.0 .0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// For `HttpServer::on_connect`: keeps every TCP connection's socket in its extensions, where
/// `GET /ws` finds it (`HttpRequest::conn_data::<SocketOwner>`).
pub fn capture(io: &dyn Any, extensions: &mut Extensions) {
    if let Some(stream) = io.downcast_ref::<actix_web::rt::net::TcpStream>() {
        let fd = stream.as_raw_fd();
        if let Some(cookie) = cookie_of(fd) {
            let socket = Socket(Arc::new(Mutex::new(Some(Captured { fd, cookie }))));
            extensions.insert(SocketOwner(socket));
        }
    }
}

impl Socket {
    /// Resets the connection: linger 0 makes the close send a reset instead of waiting for the
    /// unread data to drain, and the shutdown makes the connection's next read or write fail, so
    /// actix drops and closes it even while the peer reads nothing. Answers whether it did.
    pub fn kill(&self) -> bool {
        let guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(Captured { fd, cookie }) = *guard else {
            return false;
        };
        if cookie_of(fd) != Some(cookie) {
            return false;
        }
        // SAFETY: the descriptor is open and names the captured socket: its cookie matches, and
        // the connection releases it (under this lock) before it closes it, see `SocketOwner`.
        let socket = unsafe { BorrowedFd::borrow_raw(fd) };
        let linger = nix::libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        if let Err(error) = setsockopt(&socket, Linger, &linger) {
            tracing::debug!(%error, "setting SO_LINGER on a stuck socket");
        }
        shutdown(fd, Shutdown::Both).is_ok()
    }

    /// Whether the connection has let go of its socket (it is closed, or about to be).
    pub fn released(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }
}
