//! turmoil's network, plugged into the node (listener, dialer) and the SDK
//! (connector).

use std::io;
use std::net::SocketAddr;

use futures::future::BoxFuture;
use turmoil::net::{TcpListener, TcpStream};
use vexil_node::net::dial::{BoxIo, Dialer};

/// An axum listener over turmoil's TCP.
pub struct SimListener(pub TcpListener);

impl std::fmt::Debug for SimListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimListener")
    }
}

impl axum::serve::Listener for SimListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok(conn) => return conn,
                // A refused or reset connection attempt: keep accepting.
                Err(_) => tokio::task::yield_now().await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// Dials peers over turmoil's TCP.
#[derive(Debug, Clone, Copy)]
pub struct SimDialer;

impl Dialer for SimDialer {
    fn dial(&self, addr: &str) -> BoxFuture<'static, io::Result<BoxIo>> {
        let addr = addr.to_owned();
        Box::pin(async move { Ok(BoxIo(Box::new(TcpStream::connect(addr).await?))) })
    }
}

/// The SDK's connector over turmoil's TCP.
#[derive(Debug, Clone, Copy)]
pub struct SimConnector;

impl vexil_sdk::Connector for SimConnector {
    fn connect(
        &self,
        addr: &str,
    ) -> BoxFuture<'static, io::Result<Box<dyn vexil_sdk::client_io::Io>>> {
        let addr = addr.to_owned();
        Box::pin(async move {
            Ok(Box::new(TcpStream::connect(addr).await?) as Box<dyn vexil_sdk::client_io::Io>)
        })
    }
}
