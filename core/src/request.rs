//! [`Call`] → [`http::Request`]: URI, query or form body, `Accept`, auth headers, CSRF.
//!
//! ```
//! use proxmox_proto::{auth::{ApiToken, Auth}, request::RequestBuilder, Call, Service, Target};
//! let rb = RequestBuilder::new(Target::parse(Service::Pve, "pve1.example.com").unwrap());
//! let auth = Auth::Token(ApiToken::new("automation@pve!ci", "s3cr3t").unwrap());
//! let call = Call::post(("nodes", "pve1", "qemu")).unwrap().param("vmid", 100).param("start", true);
//! let req = rb.build(&call, Some(&auth)).unwrap();
//! assert_eq!(req.uri(), "https://pve1.example.com:8006/api2/json/nodes/pve1/qemu");
//! assert_eq!(req.body(), b"vmid=100&start=1");
//! assert_eq!(req.headers()["content-type"], "application/x-www-form-urlencoded");
//! assert_eq!(req.headers()["authorization"], "PVEAPIToken=automation@pve!ci=s3cr3t");
//! assert!(req.headers().get("csrfpreventiontoken").is_none());
//! ```

use crate::auth::Auth;
use crate::call::{Call, Method};
use crate::error::InputError;
use crate::params::Params;
use crate::path::ApiPath;
use crate::target::Target;
use http::header::{self, HeaderValue};

/// The form body of a built request. It derefs to the bytes; its `Debug` shows only the size,
/// because a login or TFA body carries the password, the half ticket or the second factor and
/// `http::Request`'s `Debug` prints the body.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FormBody(Vec<u8>);

impl FormBody {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, owned.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

impl std::fmt::Debug for FormBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FormBody({} bytes)", self.0.len())
    }
}

impl std::ops::Deref for FormBody {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for FormBody {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<FormBody> for Vec<u8> {
    fn from(b: FormBody) -> Self {
        b.0
    }
}

impl<const N: usize> PartialEq<[u8; N]> for FormBody {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.0 == other
    }
}

impl PartialEq<[u8]> for FormBody {
    fn eq(&self, other: &[u8]) -> bool {
        self.0 == other
    }
}

/// Largest body PVE accepts for a non-upload call (it answers 501 past this).
pub const MAX_NON_UPLOAD_BODY: usize = 512 * 1024;

/// Where a ticket travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TicketPlacement {
    /// `Cookie: PVEAuthCookie=...` (every service).
    #[default]
    Cookie,
    /// `Authorization: PVEAuthCookie=...` (PVE only; what a browser must use). For services that
    /// do not accept it, the cookie is used instead.
    AuthorizationHeader,
}

/// Builds HTTP requests for one target.
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    target: Target,
    base: String,
    user_agent: Option<String>,
    accept_gzip: bool,
    ticket_placement: TicketPlacement,
}

fn header_value(name: &'static str, v: &str) -> Result<HeaderValue, InputError> {
    HeaderValue::from_str(v).map_err(|_| InputError::InvalidHeader {
        name,
        reason: "contains characters not allowed in a header (CR, LF, NUL or non-visible bytes)",
    })
}

impl RequestBuilder {
    /// A builder for `target`, with `User-Agent: proxmox-proto/<version>`, no gzip and tickets
    /// in cookies.
    pub fn new(target: Target) -> Self {
        let base = target.base_url();
        Self {
            target,
            base,
            user_agent: Some(concat!("proxmox-proto/", env!("CARGO_PKG_VERSION")).to_owned()),
            accept_gzip: false,
            ticket_placement: TicketPlacement::Cookie,
        }
    }

    /// Set (or, with `None`, omit) the `User-Agent` header; browsers set their own.
    pub fn user_agent(mut self, ua: Option<String>) -> Self {
        self.user_agent = ua;
        self
    }

    /// Send `Accept-Encoding: gzip` (only when the adapter decodes gzip).
    pub fn accept_gzip(mut self, on: bool) -> Self {
        self.accept_gzip = on;
        self
    }

    /// Where tickets travel.
    pub fn ticket_placement(mut self, p: TicketPlacement) -> Self {
        self.ticket_placement = p;
        self
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The full URL of a path with an optional query string.
    pub fn url(&self, path: &ApiPath, query: &Params) -> String {
        let mut u = String::with_capacity(self.base.len() + 64);
        u.push_str(&self.base);
        if !path.segments().is_empty() {
            u.push_str(&path.encoded());
        }
        if !query.is_empty() {
            u.push('?');
            u.push_str(&query.to_form());
        }
        u
    }

    fn base_request(
        &self,
        method: Method,
        url: &str,
        auth: Option<&Auth>,
    ) -> Result<http::request::Builder, InputError> {
        let mut b = http::Request::builder()
            .method(method.as_http())
            .uri(url)
            .header(header::ACCEPT, "application/json");
        if self.accept_gzip {
            b = b.header(header::ACCEPT_ENCODING, "gzip");
        }
        if let Some(ua) = &self.user_agent {
            b = b.header(header::USER_AGENT, header_value("User-Agent", ua)?);
        }
        match auth {
            None => {}
            Some(Auth::Token(t)) => {
                let mut v = header_value("Authorization", &t.header_value(self.target.service())?)?;
                v.set_sensitive(true);
                b = b.header(header::AUTHORIZATION, v);
            }
            Some(Auth::Session(s)) => {
                let by_header = match self.ticket_placement {
                    TicketPlacement::AuthorizationHeader => s.authorization_header(),
                    TicketPlacement::Cookie => None,
                };
                let (name, value) = match by_header {
                    Some(v) => (header::AUTHORIZATION, v),
                    None => (header::COOKIE, s.cookie_header()),
                };
                let mut v = header_value("Cookie", &value)?;
                v.set_sensitive(true);
                b = b.header(name, v);
                if method != Method::Get
                    && let Some(csrf) = s.csrf_token()
                {
                    let mut v = header_value("CSRFPreventionToken", csrf)?;
                    v.set_sensitive(true);
                    b = b.header("CSRFPreventionToken", v);
                }
            }
        }
        Ok(b)
    }

    /// Build the request for a call: GET/DELETE parameters in the query string, POST/PUT
    /// parameters in a form body (with `Content-Length`; an empty body has length 0 and no
    /// content type). A body over [`MAX_NON_UPLOAD_BODY`] is refused.
    pub fn build(
        &self,
        call: &Call,
        auth: Option<&Auth>,
    ) -> Result<http::Request<FormBody>, InputError> {
        let params = call.wire_params()?;
        let (url, body) = if call.method.params_in_query() {
            (self.url(&call.path, &params), Vec::new())
        } else {
            (
                self.url(&call.path, &Params::new()),
                params.to_form().into_bytes(),
            )
        };
        if body.len() > MAX_NON_UPLOAD_BODY {
            return Err(InputError::BodyTooLarge {
                size: body.len(),
                limit: MAX_NON_UPLOAD_BODY,
            });
        }
        let mut b = self.base_request(call.method, &url, auth)?;
        if !call.method.params_in_query() {
            if !body.is_empty() {
                b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            }
            b = b.header(header::CONTENT_LENGTH, body.len());
        }
        b.body(FormBody(body)).map_err(|e| InputError::Invalid {
            what: "request",
            reason: e.to_string(),
        })
    }

    /// A plain `GET` of an absolute URL without credentials (a checksum file on a mirror, the
    /// server's schema): the user agent, nothing else.
    pub fn fetch(&self, url: &str) -> Result<http::Request<FormBody>, InputError> {
        let mut b = http::Request::builder().method(http::Method::GET).uri(url);
        if let Some(ua) = &self.user_agent {
            b = b.header(header::USER_AGENT, header_value("User-Agent", ua)?);
        }
        b.body(FormBody::default())
            .map_err(|e| InputError::Invalid {
                what: "URL",
                reason: format!(
                    "{} cannot be fetched: {e}",
                    crate::options::redact_userinfo(url)
                ),
            })
    }

    /// The head of a request whose body the adapter streams itself (uploads): method, URL,
    /// auth, `Content-Type` and the exact `Content-Length`.
    pub fn build_streaming(
        &self,
        method: Method,
        path: &ApiPath,
        content_type: &str,
        content_length: u64,
        auth: Option<&Auth>,
    ) -> Result<http::Request<()>, InputError> {
        let url = self.url(path, &Params::new());
        self.base_request(method, &url, auth)?
            .header(
                header::CONTENT_TYPE,
                header_value("Content-Type", content_type)?,
            )
            .header(header::CONTENT_LENGTH, content_length)
            .body(())
            .map_err(|e| InputError::Invalid {
                what: "request",
                reason: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Service;
    use crate::auth::{ApiToken, Session};

    fn rb() -> RequestBuilder {
        RequestBuilder::new(Target::parse(Service::Pve, "1.2.3.4").unwrap())
    }

    fn session() -> Auth {
        Auth::Session(
            Session::new(
                Service::Pve,
                "u@pve",
                "PVE:u@pve:65000000::sig",
                Some("65000000:csrf"),
            )
            .unwrap(),
        )
    }

    #[test]
    fn get_params_in_query() {
        let c = Call::get("nodes/pve/qemu")
            .unwrap()
            .param("full", true)
            .param("x", None::<u32>)
            .param("n", 1)
            .param("l", vec!["a", "b"])
            .param("s", "a b&c=ü");
        let r = rb().build(&c, None).unwrap();
        assert_eq!(
            r.uri(),
            "https://1.2.3.4:8006/api2/json/nodes/pve/qemu?full=1&n=1&l=a&l=b&s=a+b%26c%3D%C3%BC"
        );
        assert!(r.body().is_empty());
        assert!(r.headers().get("content-length").is_none());
        assert_eq!(r.headers()["accept"], "application/json");
    }

    #[test]
    fn post_form_and_empty_post() {
        let c = Call::post("nodes/pve/qemu/100/status/start")
            .unwrap()
            .param("timeout", 30)
            .param("skiplock", false)
            .param("x", None::<u32>)
            .param("l", vec!["a", "b"])
            .param("s", "a b");
        let r = rb().build(&c, None).unwrap();
        assert_eq!(r.body(), b"timeout=30&skiplock=0&l=a&l=b&s=a+b");
        assert_eq!(r.headers()["content-length"], "35");
        let c = Call::post("nodes/pve/qemu/100/status/start").unwrap();
        let r = rb().build(&c, None).unwrap();
        assert_eq!(r.headers()["content-length"], "0");
        assert!(r.headers().get("content-type").is_none());
    }

    #[test]
    fn csrf_only_with_ticket_on_non_get() {
        let auth = session();
        let r = rb()
            .build(&Call::get("nodes").unwrap(), Some(&auth))
            .unwrap();
        assert_eq!(
            r.headers()["cookie"],
            "PVEAuthCookie=PVE:u@pve:65000000::sig"
        );
        assert!(r.headers().get("csrfpreventiontoken").is_none());
        for c in [
            Call::post("nodes").unwrap(),
            Call::put("nodes").unwrap(),
            Call::delete("nodes").unwrap(),
        ] {
            let r = rb().build(&c, Some(&auth)).unwrap();
            assert_eq!(r.headers()["csrfpreventiontoken"], "65000000:csrf");
        }
        let tok = Auth::Token(ApiToken::new("root@pam!tok", "val").unwrap());
        let r = rb()
            .build(&Call::post("nodes").unwrap(), Some(&tok))
            .unwrap();
        assert_eq!(r.headers()["authorization"], "PVEAPIToken=root@pam!tok=val");
        assert!(r.headers().get("csrfpreventiontoken").is_none());
        assert!(r.headers().get("cookie").is_none());
    }

    #[test]
    fn ticket_in_authorization_header_for_browsers() {
        let r = rb()
            .ticket_placement(TicketPlacement::AuthorizationHeader)
            .build(&Call::get("nodes").unwrap(), Some(&session()))
            .unwrap();
        assert_eq!(
            r.headers()["authorization"],
            "PVEAuthCookie=PVE:u@pve:65000000::sig"
        );
        assert!(r.headers().get("cookie").is_none());
    }

    #[test]
    fn big_bodies_refused() {
        let c = Call::post("nodes")
            .unwrap()
            .param("big", "x".repeat(MAX_NON_UPLOAD_BODY));
        assert!(matches!(
            rb().build(&c, None),
            Err(InputError::BodyTooLarge { .. })
        ));
    }

    #[test]
    fn streaming_head() {
        let p = ApiPath::parse("nodes/pve/storage/local/upload").unwrap();
        let r = rb()
            .build_streaming(
                Method::Post,
                &p,
                "multipart/form-data; boundary=abc",
                5 * 1024 * 1024 * 1024,
                Some(&session()),
            )
            .unwrap();
        assert_eq!(r.headers()["content-length"], "5368709120");
        assert_eq!(r.headers()["csrfpreventiontoken"], "65000000:csrf");
        assert!(
            rb().build_streaming(Method::Post, &p, "x\r\ny: z", 1, None)
                .is_err()
        );
    }

    #[test]
    fn prefix_and_root() {
        let t = Target::parse(Service::Pve, "h")
            .unwrap()
            .with_path_prefix("/pve/")
            .unwrap();
        let r = RequestBuilder::new(t)
            .build(&Call::get("").unwrap(), None)
            .unwrap();
        assert_eq!(r.uri(), "https://h:8006/pve/api2/json");
    }
}
