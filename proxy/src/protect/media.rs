//! Which reader a body gets: JSON, form, multipart or text, from its `Content-Type`, and
//! the checks that refuse bodies we would only be guessing about (foreign charsets, BOMs,
//! UTF-16).

use http::HeaderMap;
use http::header::CONTENT_TYPE;
use outscope_config::BodyType;

use crate::errors::ProxyError;

/// A classified body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    Json,
    Form,
    /// With its boundary.
    Multipart(String),
    Text,
}

impl Media {
    fn body_type(&self) -> BodyType {
        match self {
            Media::Json => BodyType::Json,
            Media::Form => BodyType::Form,
            Media::Multipart(_) => BodyType::Multipart,
            Media::Text => BodyType::Text,
        }
    }
}

/// Classifies the body by its `Content-Type` and checks it is something we can read. A
/// body with no `Content-Type` is read as text.
pub fn classify(
    headers: &HeaderMap,
    body: &[u8],
    accepted: &[BodyType],
) -> Result<Media, ProxyError> {
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let value = values.next();
    if values.next().is_some() {
        return Err(ProxyError::Ambiguous("more than one Content-Type"));
    }
    let value = match value {
        Some(v) => v
            .to_str()
            .map_err(|_| ProxyError::UnsupportedMedia("this Content-Type"))?,
        None => "",
    };
    let mut params = value.split(';');
    let essence = params.next().unwrap_or("").trim().to_ascii_lowercase();
    let mut charset = None;
    for param in params {
        if let Some((k, v)) = param.split_once('=')
            && k.trim().eq_ignore_ascii_case("charset")
        {
            charset = Some(v.trim().trim_matches('"').to_ascii_lowercase());
        }
    }
    if let Some(cs) = charset.as_deref()
        && !matches!(cs, "utf-8" | "utf8" | "us-ascii")
    {
        return Err(ProxyError::Ambiguous(
            "charsets other than UTF-8 are not accepted",
        ));
    }
    let media = if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Media::Json
    } else if essence == "application/x-www-form-urlencoded" {
        Media::Form
    } else if essence == "multipart/form-data" {
        let boundary = outscope_inspect::multipart::boundary(value).ok_or(
            ProxyError::Unparseable("multipart body without a valid boundary"),
        )?;
        Media::Multipart(boundary)
    } else if essence.starts_with("multipart/") {
        return Err(ProxyError::UnsupportedMedia("this multipart type"));
    } else {
        Media::Text
    };
    if !accepted.contains(&media.body_type()) {
        return Err(ProxyError::UnsupportedMedia("this Content-Type"));
    }
    check_text_encoding(body, &media)?;
    Ok(media)
}

/// Refuses byte-order marks and UTF-16/32-looking bodies: the scanner reads UTF-8, and a
/// card number spelled in UTF-16 would slip past it.
fn check_text_encoding(body: &[u8], media: &Media) -> Result<(), ProxyError> {
    if body.starts_with(&[0xEF, 0xBB, 0xBF])
        || body.starts_with(&[0xFE, 0xFF])
        || body.starts_with(&[0xFF, 0xFE])
    {
        return Err(ProxyError::Ambiguous("byte-order marks are not accepted"));
    }
    let nul_bytes = memchr::memchr_iter(0, body).take(64).count();
    let looks_wide = nul_bytes > 0 && matches!(media, Media::Json | Media::Form)
        || body.len() >= 4 && body.iter().take(64).skip(1).step_by(2).all(|b| *b == 0);
    if looks_wide {
        return Err(ProxyError::Ambiguous(
            "UTF-16 or binary data where text was declared",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [BodyType; 4] = [
        BodyType::Json,
        BodyType::Form,
        BodyType::Multipart,
        BodyType::Text,
    ];

    fn with(ct: &str, body: &[u8]) -> Result<Media, ProxyError> {
        let mut h = HeaderMap::new();
        if !ct.is_empty() {
            h.insert(CONTENT_TYPE, ct.parse().unwrap());
        }
        classify(&h, body, &ALL)
    }

    #[test]
    fn content_types_pick_the_reader() {
        assert_eq!(
            with("application/json; charset=UTF-8", b"{}").unwrap(),
            Media::Json
        );
        assert_eq!(
            with("application/vnd.api+json", b"{}").unwrap(),
            Media::Json
        );
        assert_eq!(
            with("application/x-www-form-urlencoded", b"a=1").unwrap(),
            Media::Form
        );
        assert_eq!(
            with("multipart/form-data; boundary=xyz", b"").unwrap(),
            Media::Multipart("xyz".into())
        );
        assert_eq!(with("text/xml", b"<a/>").unwrap(), Media::Text);
        assert_eq!(with("", b"hello").unwrap(), Media::Text);
    }

    #[test]
    fn guesses_are_refused() {
        assert_eq!(
            with("application/json; charset=iso-8859-1", b"{}")
                .unwrap_err()
                .code(),
            "ambiguous_request"
        );
        assert_eq!(
            with("application/json", b"\xEF\xBB\xBF{}")
                .unwrap_err()
                .code(),
            "ambiguous_request"
        );
        assert_eq!(
            with("text/plain", b"4\x002\x004\x002\x00")
                .unwrap_err()
                .code(),
            "ambiguous_request"
        );
        assert_eq!(
            with("application/json", b"{\"a\":\"\x00\"}")
                .unwrap_err()
                .code(),
            "ambiguous_request"
        );
        assert_eq!(
            with("multipart/form-data", b"").unwrap_err().code(),
            "unparseable_body"
        );
        assert_eq!(
            with("multipart/mixed; boundary=a", b"").unwrap_err().code(),
            "unsupported_media"
        );
    }

    #[test]
    fn routes_choose_what_they_accept() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, "text/plain".parse().unwrap());
        assert_eq!(
            classify(&h, b"x", &[BodyType::Json]).unwrap_err().code(),
            "unsupported_media"
        );
    }
}
