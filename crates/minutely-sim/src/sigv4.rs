//! AWS Signature Version 4, checked (`--verify-signatures`): the `Authorization` header and
//! presigned URLs, for Kinesis and S3, against the sim's credentials; so that a test catches a
//! client that signs wrongly, with the wrong key, or with a clock far off.
//!
//! What is checked: the algorithm (`AWS4-HMAC-SHA256`), the access key, the credential scope's
//! date and service, the request time (15 minutes either way; a presigned URL's
//! `X-Amz-Expires`), and the signature over the canonical request (method, path, query,
//! signed headers, the payload's hash). Not checked: the chunk signatures of a
//! `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body (its seed signature is), session tokens,
//! SigV4a. No IO: `server.rs` turns a [`Refusal`] into each service's error answer.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The access key and secret the sim accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    pub secret: String,
}

impl Default for Credentials {
    /// The ones `minutely sim` prints: `test` and `test`.
    fn default() -> Credentials {
        Credentials { access_key: "test".into(), secret: "test".into() }
    }
}

/// Which service signed: the scope's service, and how the path is made canonical.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Kinesis,
    S3,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Kinesis => "kinesis",
            Service::S3 => "s3",
        }
    }
}

/// Why a request is refused: what went wrong, in a word each service maps to its own code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No signature at all.
    Missing(String),
    /// Not a key the sim knows.
    UnknownKey(String),
    /// Outside the accepted time: skewed, or a presigned URL expired.
    Expired(String),
    /// Malformed, or signed for another service.
    Malformed(String),
    /// The signature does not match.
    Mismatch(String),
}

/// A request as signed: what the canonical request is made of.
#[derive(Debug)]
pub struct Signed<'a> {
    pub method: &'a str,
    /// The path as it was sent (percent-encoded).
    pub path: &'a str,
    /// The query as it was sent.
    pub query: &'a str,
    /// The URI's authority: HTTP/2's `:authority`, which stands for `host` there (the Node SDK
    /// signs it under either name).
    pub authority: Option<&'a str>,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SKEW_MS: i64 = 15 * 60 * 1000;

/// Checks `r`'s signature for `service` at time `now_ms`.
pub fn verify(r: &Signed<'_>, service: Service, creds: &Credentials, now_ms: i64) -> Result<(), Refusal> {
    let query = query_pairs(r.query);
    let sigv2 = query.iter().any(|(k, _)| k == "AWSAccessKeyId")
        || r.headers.get(http::header::AUTHORIZATION).is_some_and(|v| v.as_bytes().starts_with(b"AWS "));
    if sigv2 {
        return Err(Refusal::Malformed(
            "the request is signed with Signature Version 2, which the sim does not check; sign with SigV4 (boto3: Config(signature_version=\"s3v4\"))".into(),
        ));
    }
    let presigned = query.iter().any(|(k, _)| k == "X-Amz-Signature");
    let auth = if presigned { from_query(&query)? } else { from_header(r.headers)? };
    if auth.algorithm != ALGORITHM {
        return Err(Refusal::Malformed(format!("the algorithm {} is not {ALGORITHM}", auth.algorithm)));
    }
    let scope: Vec<&str> = auth.credential.splitn(5, '/').collect();
    let [key, date, region, scope_service, "aws4_request"] = scope[..] else {
        return Err(Refusal::Malformed(format!(
            "the credential {} is not KEY/DATE/REGION/SERVICE/aws4_request",
            auth.credential
        )));
    };
    if key != creds.access_key {
        return Err(Refusal::UnknownKey(format!("the access key {key} is not the sim's ({})", creds.access_key)));
    }
    if scope_service != service.name() {
        return Err(Refusal::Malformed(format!(
            "the credential is scoped to {scope_service:?}, not {:?}",
            service.name()
        )));
    }
    let signed_at = parse_amz_date(&auth.date)
        .ok_or_else(|| Refusal::Malformed(format!("the date {:?} is not YYYYMMDDTHHMMSSZ", auth.date)))?;
    if !auth.date.starts_with(date) {
        return Err(Refusal::Malformed(format!("the credential's date {date} is not the request's {}", auth.date)));
    }
    match auth.expires_s {
        Some(expires) if now_ms > signed_at + expires * 1000 => {
            return Err(Refusal::Expired(format!(
                "the presigned URL expired: signed at {}, for {expires} s",
                auth.date
            )));
        }
        Some(_) if signed_at - now_ms > SKEW_MS => {
            return Err(Refusal::Expired(format!("the presigned URL is signed in the future ({})", auth.date)));
        }
        None if (signed_at - now_ms).abs() > SKEW_MS => {
            return Err(Refusal::Expired(format!(
                "the request was signed at {}, more than 15 minutes from the sim's time {}",
                auth.date,
                chrono::DateTime::from_timestamp_millis(now_ms)
                    .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
                    .unwrap_or_default()
            )));
        }
        _ => {}
    }
    let payload = match r.headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok()) {
        Some(v) => v.to_owned(),
        None if presigned => "UNSIGNED-PAYLOAD".to_owned(),
        None => hex(&Sha256::digest(r.body)),
    };
    let canonical = canonical_request(r, service, &query, &auth.signed_headers, &payload)?;
    let scope = format!("{date}/{region}/{scope_service}/aws4_request");
    let expected = signature(&creds.secret, &auth.date, &scope, &canonical);
    if expected != auth.signature {
        return Err(Refusal::Mismatch(format!(
            "the request signature we calculated does not match the signature you provided (check the secret key and the signing method); the canonical request was:\n{canonical}"
        )));
    }
    if payload.len() == 64 && payload.bytes().all(|b| b.is_ascii_hexdigit()) && payload != hex(&Sha256::digest(r.body))
    {
        return Err(Refusal::Mismatch("x-amz-content-sha256 is not the SHA-256 of the body".into()));
    }
    Ok(())
}

/// The signature of `canonical` (a canonical request) at `amz_date` within `scope`.
pub fn signature(secret: &str, amz_date: &str, scope: &str, canonical: &str) -> String {
    let string_to_sign = format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical.as_bytes())));
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in scope.split('/') {
        key = hmac(&key, part.as_bytes());
    }
    hex(&hmac(&key, string_to_sign.as_bytes()))
}

struct Auth {
    algorithm: String,
    credential: String,
    signed_headers: Vec<String>,
    signature: String,
    date: String,
    expires_s: Option<i64>,
}

fn from_header(headers: &http::HeaderMap) -> Result<Auth, Refusal> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Err(Refusal::Missing(
            "the request is not signed: no Authorization header and no X-Amz-Signature".into(),
        ));
    };
    let value = value.to_str().map_err(|_| Refusal::Malformed("the Authorization header is not text".into()))?;
    let (algorithm, rest) = value.split_once(' ').unwrap_or((value, ""));
    let field = |name: &str| {
        rest.split(',')
            .map(str::trim)
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .map(str::to_owned)
    };
    let missing = |name: &str| Refusal::Malformed(format!("the Authorization header has no {name}="));
    let date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Refusal::Malformed("the request has no X-Amz-Date header".into()))?;
    Ok(Auth {
        algorithm: algorithm.to_owned(),
        credential: field("Credential").ok_or_else(|| missing("Credential"))?,
        signed_headers: field("SignedHeaders")
            .ok_or_else(|| missing("SignedHeaders"))?
            .split(';')
            .map(str::to_owned)
            .collect(),
        signature: field("Signature").ok_or_else(|| missing("Signature"))?,
        date: date.to_owned(),
        expires_s: None,
    })
}

fn from_query(query: &[(String, String)]) -> Result<Auth, Refusal> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| Refusal::Malformed(format!("the presigned URL has no {name}")))
    };
    let expires: i64 =
        get("X-Amz-Expires")?.parse().map_err(|_| Refusal::Malformed("X-Amz-Expires is not a number".into()))?;
    if !(1..=604_800).contains(&expires) {
        return Err(Refusal::Malformed(format!("X-Amz-Expires {expires} is not between 1 and 604800 seconds")));
    }
    Ok(Auth {
        algorithm: get("X-Amz-Algorithm")?,
        credential: get("X-Amz-Credential")?,
        signed_headers: get("X-Amz-SignedHeaders")?.split(';').map(str::to_owned).collect(),
        signature: get("X-Amz-Signature")?,
        date: get("X-Amz-Date")?,
        expires_s: Some(expires),
    })
}

fn canonical_request(
    r: &Signed<'_>,
    service: Service,
    query: &[(String, String)],
    signed: &[String],
    payload: &str,
) -> Result<String, Refusal> {
    // S3 signs the path as sent; the other services encode each segment once more.
    let path = match service {
        Service::S3 => r.path.to_owned(),
        Service::Kinesis => r.path.split('/').map(|s| encode(s, false)).collect::<Vec<_>>().join("/"),
    };
    let mut pairs: Vec<(String, String)> =
        query.iter().filter(|(k, _)| k != "X-Amz-Signature").map(|(k, v)| (encode(k, true), encode(v, true))).collect();
    pairs.sort();
    let query = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let mut headers = String::new();
    for name in signed {
        let values: Vec<String> = r
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        let values = match (values.is_empty(), name.as_str(), r.authority) {
            (true, ":authority" | "host", Some(authority)) => vec![authority.to_owned()],
            (true, _, _) => {
                return Err(Refusal::Malformed(format!("the signed header {name} is not in the request")));
            }
            (false, _, _) => values,
        };
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    Ok(format!("{}\n{path}\n{query}\n{headers}\n{}\n{payload}", r.method, signed.join(";")))
}

/// The query's pairs, percent-decoded (a name without `=` has an empty value).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// SigV4's URI encoding: everything but `A-Za-z0-9-_.~` (and `/` unless `slash`) as `%XX`.
fn encode(s: &str, slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (b == b'/' && !slash) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn parse_amz_date(s: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ").ok().map(|t| t.and_utc().timestamp_millis())
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    /// AWS's worked example in the S3 documentation (GET Object, "Example: GET Object"):
    /// the signature it gives.
    #[test]
    fn aws_s3_example_signs_as_documented() {
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let h = headers(&[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", empty),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let signed: Vec<String> = ["host", "range", "x-amz-content-sha256", "x-amz-date"].map(String::from).into();
        let r = Signed { method: "GET", path: "/test.txt", query: "", authority: None, headers: &h, body: b"" };
        let canonical = canonical_request(&r, Service::S3, &[], &signed, empty).unwrap();
        assert_eq!(
            hex(&Sha256::digest(canonical.as_bytes())),
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        );
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let sig = signature(secret, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request", &canonical);
        assert_eq!(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
        // The same request with its Authorization header, checked as a whole.
        let mut h = h;
        h.insert(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature={sig}").parse().unwrap(),
        );
        let creds = Credentials { access_key: "AKIAIOSFODNN7EXAMPLE".into(), secret: secret.into() };
        let at = parse_amz_date("20130524T000500Z").unwrap();
        let r = Signed { method: "GET", path: "/test.txt", query: "", authority: None, headers: &h, body: b"" };
        assert_eq!(verify(&r, Service::S3, &creds, at), Ok(()));
        // A wrong secret, another key, an hour later, another service: each refused for its reason.
        let wrong = Credentials { secret: "x".into(), ..creds.clone() };
        assert!(matches!(verify(&r, Service::S3, &wrong, at), Err(Refusal::Mismatch(_))));
        let other = Credentials { access_key: "AKIAOTHER".into(), ..creds.clone() };
        assert!(matches!(verify(&r, Service::S3, &other, at), Err(Refusal::UnknownKey(_))));
        assert!(matches!(verify(&r, Service::S3, &creds, at + 3_600_000), Err(Refusal::Expired(_))));
        assert!(matches!(verify(&r, Service::Kinesis, &creds, at), Err(Refusal::Malformed(_))));
        let tampered = Signed { path: "/test.txt2", ..r };
        assert!(matches!(verify(&tampered, Service::S3, &creds, at), Err(Refusal::Mismatch(_))));
        let unsigned = headers(&[("host", "examplebucket.s3.amazonaws.com")]);
        let r = Signed { method: "GET", path: "/test.txt", query: "", authority: None, headers: &unsigned, body: b"" };
        assert!(matches!(verify(&r, Service::S3, &creds, at), Err(Refusal::Missing(_))));
    }

    /// Over HTTP/2 there is no Host header: the Node SDK v3 signs `:authority` (or `host`),
    /// which is the URI's authority.
    #[test]
    fn http2_signs_the_authority() {
        let h = headers(&[("x-amz-date", "20130524T000000Z")]);
        for name in [":authority", "host"] {
            let r = Signed {
                method: "POST",
                path: "/",
                query: "",
                authority: Some("127.0.0.1:4567"),
                headers: &h,
                body: b"",
            };
            let canonical =
                canonical_request(&r, Service::Kinesis, &[], &[name.into(), "x-amz-date".into()], "p").unwrap();
            assert!(
                canonical.contains(&format!("\n{name}:127.0.0.1:4567\nx-amz-date:20130524T000000Z\n")),
                "{canonical}"
            );
        }
        let r = Signed { method: "POST", path: "/", query: "", authority: None, headers: &h, body: b"" };
        assert!(matches!(
            canonical_request(&r, Service::Kinesis, &[], &[":authority".into()], "p"),
            Err(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn queries_are_sorted_and_encoded_as_sigv4_says() {
        let pairs = query_pairs("b=2&a=x%20y&c&a=1&X-Amz-Signature=s&k=%2F~");
        let h = headers(&[("host", "h")]);
        let r = Signed { method: "GET", path: "/a b", query: "", authority: None, headers: &h, body: b"" };
        let canonical = canonical_request(&r, Service::Kinesis, &pairs, &["host".into()], "p").unwrap();
        assert_eq!(canonical, "GET\n/a%20b\na=1&a=x%20y&b=2&c=&k=%2F~\nhost:h\n\nhost\np");
    }
}
