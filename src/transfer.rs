//! Files to and from a URL, for VM export and import: `ftp://[user[:password]@]host[:port]/path` (passive mode,
//! binary; `anonymous` when the URL names no user) and `http(s)://…` (PUT to store, GET to fetch). The reference
//! used FTP only; HTTP covers object stores and plain web servers.
//!
//! FTP is suppaftp's async (tokio) client: maintained, without a TLS stack unless asked for one, and it handles
//! the protocol's corners (passive-mode addresses, multi-line replies, the completion reply after a transfer)
//! that a hand-written client would get wrong.

use std::time::Duration;

use suppaftp::tokio::AsyncFtpStream;
use suppaftp::types::FileType;
use tokio::io::AsyncReadExt;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The URL cannot be used; says which part.
    #[error("{0}")]
    Url(String),
    /// The server could not be reached or did not answer in time.
    #[error("cannot reach {0}")]
    Unreachable(String),
    /// The server answered, but not with what was asked.
    #[error("{0}")]
    Refused(String),
}

/// `text` as a URL this module can use: ftp, http or https, with a host and a file path.
pub fn parse(text: &str) -> Result<Url, TransferError> {
    let url = Url::parse(text).map_err(|e| TransferError::Url(format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "ftp" | "http" | "https") {
        return Err(TransferError::Url(format!(
            "scheme '{}' is not ftp, http or https",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(TransferError::Url("the URL names no host".into()));
    }
    Ok(url)
}

/// The URL with its password hidden, to show or log.
pub fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// Stores `body` at `url`, within `timeout`.
pub async fn put(url: &Url, body: Vec<u8>, timeout: Duration) -> Result<(), TransferError> {
    let within = tokio::time::timeout(timeout, async {
        match url.scheme() {
            "ftp" => ftp_put(url, &body).await,
            _ => http_put(url, body, timeout).await,
        }
    });
    within.await.map_err(|_| TransferError::Unreachable(redacted(url)))?
}

/// Fetches `url`, at most `limit` bytes, within `timeout`.
pub async fn get(url: &Url, limit: u64, timeout: Duration) -> Result<Vec<u8>, TransferError> {
    let within = tokio::time::timeout(timeout, async {
        match url.scheme() {
            "ftp" => ftp_get(url, limit).await,
            _ => http_get(url, limit, timeout).await,
        }
    });
    within.await.map_err(|_| TransferError::Unreachable(redacted(url)))?
}

/// A download under way over HTTP(S): the body read chunk by chunk, for files too large to hold (an image).
pub struct Download {
    url: Url,
    response: reqwest::Response,
}

impl Download {
    /// The body's length, when the server said it.
    pub fn length(&self) -> Option<u64> {
        self.response.content_length()
    }

    /// The next piece of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, TransferError> {
        let url = &self.url;
        self.response
            .chunk()
            .await
            .map_err(|_| TransferError::Unreachable(redacted(url)))
    }
}

/// Starts an HTTP(S) GET of `url`. `stall` bounds connecting and each wait for more of the body, not the whole
/// download, whose length is the server's.
pub async fn open(url: &Url, stall: Duration) -> Result<Download, TransferError> {
    let client = reqwest::Client::builder()
        .connect_timeout(stall)
        .read_timeout(stall)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| TransferError::Refused(e.to_string()))?;
    let sent = client.get(url.clone()).send().await;
    Ok(Download {
        url: url.clone(),
        response: http_outcome(url, sent)?,
    })
}

/// Logged in to the URL's server, binary mode.
async fn ftp_session(url: &Url) -> Result<AsyncFtpStream, TransferError> {
    let host = url.host_str().unwrap_or_default();
    let address = (host, url.port().unwrap_or(21));
    let mut ftp = AsyncFtpStream::connect(address)
        .await
        .map_err(|_| TransferError::Unreachable(redacted(url)))?;
    let user = match url.username() {
        "" => "anonymous".to_owned(),
        user => decode(user),
    };
    let password = url.password().map_or_else(|| "anonymous@".to_owned(), decode);
    ftp.login(user.as_str(), password.as_str())
        .await
        .map_err(|e| TransferError::Refused(format!("the FTP server refused the login: {e}")))?;
    ftp.transfer_type(FileType::Binary)
        .await
        .map_err(|e| TransferError::Refused(format!("the FTP server refused binary mode: {e}")))?;
    Ok(ftp)
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

async fn ftp_put(url: &Url, body: &[u8]) -> Result<(), TransferError> {
    let mut ftp = ftp_session(url).await?;
    let path = decode(url.path());
    ftp.put_file(&path, &mut &body[..])
        .await
        .map_err(|e| TransferError::Refused(format!("the FTP server refused to store {path}: {e}")))?;
    let _ = ftp.quit().await;
    Ok(())
}

async fn ftp_get(url: &Url, limit: u64) -> Result<Vec<u8>, TransferError> {
    let mut ftp = ftp_session(url).await?;
    let path = decode(url.path());
    let refused = |e: suppaftp::FtpError| TransferError::Refused(format!("the FTP server refused {path}: {e}"));
    let stream = ftp.retr_as_stream(&path).await.map_err(&refused)?;
    let mut body = Vec::new();
    let mut limited = stream.take(limit + 1);
    limited
        .read_to_end(&mut body)
        .await
        .map_err(|e| TransferError::Refused(format!("reading {path} failed: {e}")))?;
    if body.len() as u64 > limit {
        return Err(TransferError::Refused(format!("{path} is larger than {limit} bytes")));
    }
    limited.into_inner().finish().await.map_err(&refused)?;
    let _ = ftp.quit().await;
    Ok(body)
}

fn http_client(timeout: Duration) -> Result<reqwest::Client, TransferError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| TransferError::Refused(e.to_string()))
}

/// Any status but 2xx is a refusal, named with the server's status.
fn http_outcome(url: &Url, result: reqwest::Result<reqwest::Response>) -> Result<reqwest::Response, TransferError> {
    let response = result.map_err(|_| TransferError::Unreachable(redacted(url)))?;
    if !response.status().is_success() {
        return Err(TransferError::Refused(format!(
            "{} answered {}",
            redacted(url),
            response.status()
        )));
    }
    Ok(response)
}

async fn http_put(url: &Url, body: Vec<u8>, timeout: Duration) -> Result<(), TransferError> {
    let sent = http_client(timeout)?.put(url.clone()).body(body).send().await;
    http_outcome(url, sent).map(drop)
}

async fn http_get(url: &Url, limit: u64, timeout: Duration) -> Result<Vec<u8>, TransferError> {
    let sent = http_client(timeout)?.get(url.clone()).send().await;
    let mut response = http_outcome(url, sent)?;
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| TransferError::Unreachable(redacted(url)))?
    {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > limit {
            return Err(TransferError::Refused(format!(
                "{} is larger than {limit} bytes",
                redacted(url)
            )));
        }
    }
    Ok(body)
}
