//! Clients whose requests go to a function instead of a socket: with the sim's
//! `Sim::call`, the SDK, the emulator and the code under test run on one tokio runtime, so a
//! test under tokio's paused clock runs minutes of throttling and retries deterministically, in
//! no real time. Everything above the HTTP connector (signing, the SDK's own retries, the
//! protocol) is the SDK's real code.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;

/// What answers a request: `None` is a connection closed without an answer.
pub type Answer = Pin<Box<dyn Future<Output = Option<http::Response<Bytes>>> + Send>>;

/// A function from a request to its answer.
pub type Handler = Arc<dyn Fn(http::Request<Bytes>) -> Answer + Send + Sync>;

#[derive(Clone)]
struct InProcess(Handler);

impl fmt::Debug for InProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InProcess")
    }
}

impl HttpConnector for InProcess {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let handler = self.0.clone();
        HttpConnectorFuture::new(async move {
            let request = request.try_into_http1x().map_err(|e| ConnectorError::user(e.into()))?;
            let (parts, body) = request.into_parts();
            let Some(bytes) = body.bytes().map(Bytes::copy_from_slice) else {
                return Err(ConnectorError::user(
                    "a streaming request body (the in-process client takes bytes)".into(),
                ));
            };
            let Some(answer) = handler(http::Request::from_parts(parts, bytes)).await else {
                return Err(ConnectorError::io("the connection was closed without an answer".into()));
            };
            let (parts, body) = answer.into_parts();
            HttpResponse::try_from(http::Response::from_parts(parts, SdkBody::from(body)))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

impl HttpClient for InProcess {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// An HTTP client for the SDK that hands every request to `handler`.
pub fn http_client(handler: Handler) -> SharedHttpClient {
    SharedHttpClient::new(InProcess(handler))
}
