//! Unit tests of the OIDC layer: ID-token validation (every rejection), discovery and the flow
//! against a local test server. No network beyond 127.0.0.1.
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use openidconnect::core::{
    CoreHmacKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey,
};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use serde_json::{json, Value};

use super::error::TokenRejection as R;
use super::testserver::{Reply, TestServer};
use super::validate::{at_hash, parse_allowed_algs, validate_id_token, Expected};
use super::*;
use crate::config::{Secret, TokenAuthMethod};
use crate::identity::Identity;

const KEY_PEM: &str = include_str!("../../tests/fixtures/oidc/rsa2048.pem");
const OTHER_KEY_PEM: &str = include_str!("../../tests/fixtures/oidc/rsa2048-other.pem");
const PUB_PEM: &str = include_str!("../../tests/fixtures/oidc/rsa2048.pub.pem");
const ISS: &str = "https://idp.example.com/oauth2/default";
const CLIENT: &str = "client-123";
const NONCE: &str = "nonce-abc";
const ACCESS: &str = "access-token-xyz";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn key(pem: &str, kid: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.to_string()))).unwrap()
}

fn jwks_of(keys: &[&CoreRsaPrivateSigningKey]) -> CoreJsonWebKeySet {
    CoreJsonWebKeySet::new(keys.iter().map(|k| k.as_verification_key()).collect())
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// A compact JWS with the given header and claims, signed by `sign` over the signing input.
fn jws(header: Value, claims: Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", b64(&header), b64(&claims));
    let sig = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn rs(
    alg: CoreJwsSigningAlgorithm,
    k: &CoreRsaPrivateSigningKey,
    kid: Option<&str>,
    claims: Value,
) -> String {
    let alg_name = serde_json::to_value(&alg).unwrap();
    let mut header = json!({"alg": alg_name, "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    jws(header, claims, |m| k.sign(&alg, m).unwrap())
}

fn rs256(claims: Value) -> String {
    rs(
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        &key(KEY_PEM, "k1"),
        Some("k1"),
        claims,
    )
}

fn claims() -> Value {
    let n = now();
    json!({
        "iss": ISS, "aud": CLIENT, "sub": "00u1", "exp": n + 300, "iat": n, "nonce": NONCE,
        "email": "ada@example.com", "email_verified": true, "name": "Ada", "preferred_username": "ada",
        "groups": ["editors", "admins"],
        "at_hash": at_hash(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, ACCESS).unwrap(),
    })
}

fn with(mut c: Value, k: &str, v: Value) -> Value {
    c[k] = v;
    c
}

fn without(mut c: Value, k: &str) -> Value {
    c.as_object_mut().unwrap().remove(k);
    c
}

const RS256_ONLY: &[CoreJwsSigningAlgorithm] = &[CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256];

fn expected() -> Expected<'static> {
    Expected {
        issuer: ISS,
        client_id: CLIENT,
        allowed_algs: RS256_ONLY,
        clock_skew: Duration::from_secs(60),
        now: now(),
        nonce: Some(NONCE),
        access_token: Some(ACCESS),
        groups_claim: "groups",
    }
}

fn check(token: &str) -> Result<super::validate::VerifiedIdToken, R> {
    validate_id_token(token, &jwks_of(&[&key(KEY_PEM, "k1")]), &expected())
}

fn rejects(token: &str, why: R) {
    match check(token) {
        Err(got) => assert_eq!(got, why, "expected {}, got {}", why.code(), got.code()),
        Ok(v) => panic!(
            "expected {}, but the token was accepted: {:?}",
            why.code(),
            v.identity
        ),
    }
}

// ---- happy paths -------------------------------------------------------------------------------

#[test]
fn valid_token_yields_identity_with_groups_array() {
    let v = check(&rs256(claims())).unwrap();
    assert_eq!(v.identity.sub, "00u1");
    assert_eq!(v.identity.email.as_deref(), Some("ada@example.com"));
    assert!(v.identity.email_verified);
    assert_eq!(v.identity.name.as_deref(), Some("Ada"));
    assert_eq!(v.identity.preferred_username.as_deref(), Some("ada"));
    assert_eq!(v.identity.groups, vec!["editors", "admins"]);
    assert!(v.has_groups_claim);
}

#[test]
fn single_string_group_and_email_verified_absent_or_not_bool() {
    let v = check(&rs256(without(
        with(claims(), "groups", json!("editors")),
        "email_verified",
    )))
    .unwrap();
    assert_eq!(v.identity.groups, vec!["editors"]);
    assert!(!v.identity.email_verified);
    let v = check(&rs256(with(claims(), "email_verified", json!("true")))).unwrap();
    assert!(
        !v.identity.email_verified,
        "a string is not a verified email"
    );
    let v = check(&rs256(with(claims(), "groups", json!(42)))).unwrap();
    assert!(v.identity.groups.is_empty());
    assert!(v.has_groups_claim);
    let v = check(&rs256(without(claims(), "groups"))).unwrap();
    assert!(!v.has_groups_claim);
}

#[test]
fn token_without_kid_and_single_key_is_accepted_and_multi_aud_with_azp_only_self() {
    let c = claims();
    check(&rs(
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        &key(KEY_PEM, "k1"),
        None,
        c.clone(),
    ))
    .unwrap();
    check(&rs256(with(
        with(c.clone(), "aud", json!([CLIENT])),
        "azp",
        json!(CLIENT),
    )))
    .unwrap();
    check(&rs256(with(c, "aud", json!([CLIENT])))).unwrap();
}

#[test]
fn refresh_style_validation_needs_no_nonce() {
    let token = rs256(without(claims(), "nonce"));
    let e = Expected {
        nonce: None,
        ..expected()
    };
    validate_id_token(&token, &jwks_of(&[&key(KEY_PEM, "k1")]), &e).unwrap();
}

#[test]
fn key_rotation_two_keys_selected_by_kid() {
    let k1 = key(KEY_PEM, "k1");
    let k2 = key(OTHER_KEY_PEM, "k2");
    let set = jwks_of(&[&k1, &k2]);
    let t = rs(
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        &k2,
        Some("k2"),
        claims(),
    );
    validate_id_token(&t, &set, &expected()).unwrap();
    // signed by k2 but claiming k1
    let t = rs(
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        &k2,
        Some("k1"),
        claims(),
    );
    assert_eq!(
        validate_id_token(&t, &set, &expected()).unwrap_err(),
        R::BadSignature
    );
}

// ---- signature and algorithm -------------------------------------------------------------------

#[test]
fn bad_signature() {
    // Signed by another key under our kid.
    rejects(
        &rs(
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            &key(OTHER_KEY_PEM, "k1"),
            Some("k1"),
            claims(),
        ),
        R::BadSignature,
    );
    // Payload swapped after signing.
    let good = rs256(claims());
    let parts: Vec<&str> = good.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(&with(claims(), "sub", json!("00uADMIN"))),
        parts[2]
    );
    rejects(&forged, R::BadSignature);
    // Signature truncated / not base64url.
    rejects(
        &format!("{}.{}.{}", parts[0], parts[1], &parts[2][..10]),
        R::BadSignature,
    );
    rejects(&format!("{}.{}.!!!", parts[0], parts[1]), R::BadSignature);
    rejects(&format!("{}.{}.", parts[0], parts[1]), R::BadSignature);
}

#[test]
fn alg_none_is_refused_even_if_configured() {
    let t = jws(json!({"alg": "none", "kid": "k1"}), claims(), |_| {
        Vec::new()
    });
    rejects(&t, R::UnsupportedAlg);
    let t = jws(json!({"alg": "None"}), claims(), |_| Vec::new());
    rejects(&t, R::UnsupportedAlg);
    assert_eq!(
        parse_allowed_algs(&[
            "none".into(),
            "HS256".into(),
            "HS512".into(),
            "RS256".into(),
            "bogus".into()
        ]),
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
    );
    let algs = parse_allowed_algs(&["none".into(), "RS256".into()]);
    let e = Expected {
        allowed_algs: &algs,
        ..expected()
    };
    let t = jws(json!({"alg": "none"}), claims(), |_| Vec::new());
    assert_eq!(
        validate_id_token(&t, &jwks_of(&[&key(KEY_PEM, "k1")]), &e).unwrap_err(),
        R::UnsupportedAlg
    );
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let hs = |secret: Vec<u8>| {
        let k = CoreHmacKey::new(secret);
        jws(
            json!({"alg": "HS256", "kid": "k1", "typ": "JWT"}),
            claims(),
            |m| k.sign(&CoreJwsSigningAlgorithm::HmacSha256, m).unwrap(),
        )
    };
    // The PEM text of the public key.
    rejects(&hs(PUB_PEM.as_bytes().to_vec()), R::UnsupportedAlg);
    // The JWK modulus bytes, and its base64url text.
    let jwk = serde_json::to_value(key(KEY_PEM, "k1").as_verification_key()).unwrap();
    let n = jwk["n"].as_str().unwrap().to_string();
    rejects(&hs(URL_SAFE_NO_PAD.decode(&n).unwrap()), R::UnsupportedAlg);
    rejects(&hs(n.into_bytes()), R::UnsupportedAlg);
    // Even with HS256 smuggled into the configured list.
    let algs = parse_allowed_algs(&["RS256".into(), "HS256".into()]);
    let e = Expected {
        allowed_algs: &algs,
        ..expected()
    };
    let t = hs(PUB_PEM.as_bytes().to_vec());
    assert_eq!(
        validate_id_token(&t, &jwks_of(&[&key(KEY_PEM, "k1")]), &e).unwrap_err(),
        R::UnsupportedAlg
    );
    // And if a verifier did accept HS256 with the key set, the RSA JWK cannot act as an HMAC key.
    use openidconnect::JsonWebKey;
    let input = t.rsplit_once('.').unwrap().0;
    let sig = URL_SAFE_NO_PAD
        .decode(t.rsplit_once('.').unwrap().1)
        .unwrap();
    assert!(key(KEY_PEM, "k1")
        .as_verification_key()
        .verify_signature(&CoreJwsSigningAlgorithm::HmacSha256, input.as_bytes(), &sig)
        .is_err());
}

#[test]
fn alg_outside_the_allow_list_is_refused() {
    let rs384 = rs(
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
        &key(KEY_PEM, "k1"),
        Some("k1"),
        without(claims(), "at_hash"),
    );
    rejects(&rs384, R::UnsupportedAlg);
    let both = [
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    ];
    let e = Expected {
        allowed_algs: &both,
        ..expected()
    };
    validate_id_token(&rs384, &jwks_of(&[&key(KEY_PEM, "k1")]), &e).unwrap();
    let ps256 = rs(
        CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        &key(KEY_PEM, "k1"),
        Some("k1"),
        claims(),
    );
    rejects(&ps256, R::UnsupportedAlg);
    // ES256 header over an RSA key set: not allowed, and would not fit the key anyway.
    let es = jws(json!({"alg": "ES256", "kid": "k1"}), claims(), |_| {
        vec![0u8; 64]
    });
    rejects(&es, R::UnsupportedAlg);
    let es_ok = [CoreJwsSigningAlgorithm::EcdsaP256Sha256];
    let e = Expected {
        allowed_algs: &es_ok,
        ..expected()
    };
    assert_eq!(
        validate_id_token(&es, &jwks_of(&[&key(KEY_PEM, "k1")]), &e).unwrap_err(),
        R::BadSignature
    );
}

#[test]
fn unknown_kid() {
    rejects(
        &rs(
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            &key(KEY_PEM, "k1"),
            Some("k9"),
            claims(),
        ),
        R::UnknownKid,
    );
    // No kid and no RSA key at all.
    let t = rs(
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        &key(KEY_PEM, "k1"),
        None,
        claims(),
    );
    assert_eq!(
        validate_id_token(&t, &CoreJsonWebKeySet::new(vec![]), &expected()).unwrap_err(),
        R::UnknownKid
    );
}

#[test]
fn malformed_tokens() {
    rejects("", R::Malformed);
    rejects("abc", R::Malformed);
    rejects("a.b", R::Malformed);
    rejects("a.b.c.d.e", R::Malformed);
    rejects("!!!.b.c", R::Malformed);
    rejects(
        &format!("{}.e30.sig", b64(&json!({"kid": "k1"}))),
        R::Malformed,
    );
    let k = key(KEY_PEM, "k1");
    let alg = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
    let signed = |h: Value, c: Value| jws(h, c, |m| k.sign(&alg, m).unwrap());
    rejects(
        &signed(
            json!({"alg": "RS256", "kid": "k1", "typ": "at+jwt"}),
            claims(),
        ),
        R::Malformed,
    );
    rejects(
        &signed(
            json!({"alg": "RS256", "kid": "k1", "crit": ["exp"]}),
            claims(),
        ),
        R::Malformed,
    );
    rejects(
        &signed(json!({"alg": "RS256", "kid": "k1", "cty": "JWT"}), claims()),
        R::Malformed,
    );
    rejects(
        &signed(
            json!({"alg": "RS256", "kid": "k1"}),
            json!(["not", "an", "object"]),
        ),
        R::Malformed,
    );
    rejects(&rs256(without(claims(), "exp")), R::Malformed);
    rejects(&rs256(without(claims(), "iat")), R::Malformed);
    rejects(
        &rs256(with(claims(), "exp", json!("tomorrow"))),
        R::Malformed,
    );
    rejects(&"a".repeat(70_000), R::Malformed);
    check(&signed(
        json!({"alg": "RS256", "kid": "k1", "typ": "application/jwt"}),
        claims(),
    ))
    .unwrap();
}

// ---- claims ------------------------------------------------------------------------------------

#[test]
fn wrong_issuer() {
    rejects(
        &rs256(with(
            claims(),
            "iss",
            json!("https://evil.example.com/oauth2/default"),
        )),
        R::WrongIssuer,
    );
    rejects(
        &rs256(with(claims(), "iss", json!(format!("{ISS}/")))),
        R::WrongIssuer,
    );
    rejects(&rs256(without(claims(), "iss")), R::WrongIssuer);
    rejects(
        &rs256(with(
            claims(),
            "iss",
            json!(["https://idp.example.com/oauth2/default"]),
        )),
        R::WrongIssuer,
    );
}

#[test]
fn audience_without_the_client() {
    rejects(
        &rs256(with(claims(), "aud", json!("other-client"))),
        R::WrongAudience,
    );
    rejects(
        &rs256(with(claims(), "aud", json!(["other-client"]))),
        R::WrongAudience,
    );
    rejects(&rs256(without(claims(), "aud")), R::WrongAudience);
    rejects(
        &rs256(with(claims(), "aud", json!([CLIENT, 7]))),
        R::WrongAudience,
    );
}

#[test]
fn multiple_audiences_need_azp_and_no_untrusted_audience() {
    let multi = with(claims(), "aud", json!([CLIENT, "other-client"]));
    rejects(&rs256(multi.clone()), R::AzpMismatch);
    rejects(
        &rs256(with(multi.clone(), "azp", json!("other-client"))),
        R::AzpMismatch,
    );
    rejects(&rs256(with(multi, "azp", json!(CLIENT))), R::WrongAudience);
    // A single audience with a foreign azp.
    rejects(
        &rs256(with(claims(), "azp", json!("other-client"))),
        R::AzpMismatch,
    );
}

#[test]
fn expiry_with_skew() {
    let n = now();
    rejects(&rs256(with(claims(), "exp", json!(n - 61))), R::Expired);
    rejects(&rs256(with(claims(), "exp", json!(n - 3600))), R::Expired);
    check(&rs256(with(claims(), "exp", json!(n - 30)))).unwrap();
    let e = Expected {
        clock_skew: Duration::ZERO,
        ..expected()
    };
    let t = rs256(with(claims(), "exp", json!(n - 1)));
    assert_eq!(
        validate_id_token(&t, &jwks_of(&[&key(KEY_PEM, "k1")]), &e).unwrap_err(),
        R::Expired
    );
}

#[test]
fn issued_in_the_future_beyond_skew() {
    let n = now();
    rejects(
        &rs256(with(claims(), "iat", json!(n + 120))),
        R::IssuedInFuture,
    );
    check(&rs256(with(claims(), "iat", json!(n + 30)))).unwrap();
    rejects(
        &rs256(with(claims(), "nbf", json!(n + 120))),
        R::IssuedInFuture,
    );
    check(&rs256(with(claims(), "iat", json!(n as f64 + 0.5)))).unwrap();
}

#[test]
fn nonce_mismatch_or_missing() {
    rejects(
        &rs256(with(claims(), "nonce", json!("nonce-abd"))),
        R::NonceMismatch,
    );
    rejects(&rs256(with(claims(), "nonce", json!(""))), R::NonceMismatch);
    rejects(&rs256(without(claims(), "nonce")), R::NonceMismatch);
    rejects(&rs256(with(claims(), "nonce", json!(1))), R::NonceMismatch);
}

#[test]
fn wrong_at_hash() {
    rejects(
        &rs256(with(
            claims(),
            "at_hash",
            json!(at_hash(
                &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                "other-access"
            )
            .unwrap()),
        )),
        R::AtHashMismatch,
    );
    rejects(
        &rs256(with(claims(), "at_hash", json!(1))),
        R::AtHashMismatch,
    );
    // Absent at_hash is fine (code flow: it is optional).
    check(&rs256(without(claims(), "at_hash"))).unwrap();
}

#[test]
fn at_hash_vector() {
    // OpenID Connect Core, Appendix A.3 (RS256).
    assert_eq!(
        at_hash(
            &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
        )
        .unwrap(),
        "77QmUPtjPfzWtF2AnpK9RQ"
    );
}

#[test]
fn missing_or_empty_sub() {
    rejects(&rs256(without(claims(), "sub")), R::MissingSub);
    rejects(&rs256(with(claims(), "sub", json!(""))), R::MissingSub);
    rejects(&rs256(with(claims(), "sub", json!(12))), R::MissingSub);
    rejects(
        &rs256(with(claims(), "sub", json!("s".repeat(256)))),
        R::MissingSub,
    );
    // The longest a sub may be (OpenID Connect Core §2), and oversized profile claims dropped.
    let long = rs256(with(
        with(
            with(claims(), "sub", json!("s".repeat(255))),
            "name",
            json!("n".repeat(257)),
        ),
        "email",
        json!(format!("{}@example.com", "e".repeat(243))),
    ));
    let id = check(&long).expect("a 255-byte sub is accepted").identity;
    assert_eq!(id.sub.len(), 255);
    assert_eq!(id.name, None);
    assert_eq!(id.email, None);
}

#[test]
fn pkce_challenge_rfc7636_vector() {
    assert_eq!(
        super::flow::pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[test]
fn rejection_codes_are_distinct() {
    let all = [
        R::BadSignature,
        R::UnsupportedAlg,
        R::UnknownKid,
        R::WrongIssuer,
        R::WrongAudience,
        R::AzpMismatch,
        R::Expired,
        R::IssuedInFuture,
        R::NonceMismatch,
        R::AtHashMismatch,
        R::MissingSub,
        R::UserinfoSubMismatch,
        R::Malformed,
    ];
    let codes: std::collections::HashSet<&str> = all.iter().map(|r| r.code()).collect();
    assert_eq!(codes.len(), all.len());
}

// ---- discovery and flow against a local server -------------------------------------------------

/// A mock OP whose issuer is `http://127.0.0.1:PORT` (taken from the Host header).
#[derive(Clone)]
struct Op {
    jwks: Arc<Mutex<Value>>,
    token: Arc<Mutex<(u16, Value)>>,
    userinfo: Arc<Mutex<(u16, Value)>>,
    issuer_suffix: Arc<Mutex<String>>,
}

impl Op {
    fn new() -> Op {
        Op {
            jwks: Arc::new(Mutex::new(
                serde_json::to_value(jwks_of(&[&key(KEY_PEM, "k1")])).unwrap(),
            )),
            token: Arc::new(Mutex::new((500, json!({})))),
            userinfo: Arc::new(Mutex::new((
                200,
                json!({"sub": "00u1", "groups": ["from-userinfo"]}),
            ))),
            issuer_suffix: Arc::new(Mutex::new(String::new())),
        }
    }

    fn handler(&self) -> impl Fn(&::http::Request<bytes::Bytes>) -> Reply + Send + Sync + 'static {
        let op = self.clone();
        move |req| {
            let host = req
                .headers()
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .to_string();
            let base = format!("http://{host}");
            match req.uri().path() {
                "/.well-known/openid-configuration" => Reply::json(json!({
                    "issuer": format!("{base}{}", op.issuer_suffix.lock().unwrap()),
                    "authorization_endpoint": format!("{base}/authorize?tenant=t1"),
                    "token_endpoint": format!("{base}/token"),
                    "userinfo_endpoint": format!("{base}/userinfo"),
                    "jwks_uri": format!("{base}/keys"),
                    "end_session_endpoint": format!("{base}/logout"),
                    "response_types_supported": ["code"],
                })),
                "/keys" => Reply::json(op.jwks.lock().unwrap().clone()),
                "/token" => {
                    let (status, body) = op.token.lock().unwrap().clone();
                    Reply::status(status)
                        .header("content-type", "application/json")
                        .body(body.to_string())
                }
                "/userinfo" => {
                    let (status, body) = op.userinfo.lock().unwrap().clone();
                    Reply::status(status)
                        .header("content-type", "application/json")
                        .body(body.to_string())
                }
                _ => Reply::status(404),
            }
        }
    }
}

fn test_timing() -> Timing {
    Timing {
        backoff_start: Duration::from_millis(50),
        backoff_cap: Duration::from_millis(200),
        reload_every: Duration::from_secs(3600),
        kid_refetch_min: Duration::from_secs(10),
    }
}

fn config(issuer: &str, method: TokenAuthMethod) -> crate::config::OidcConfig {
    crate::config::OidcConfig {
        issuer: issuer.to_string(),
        client_id: "my client".to_string(),
        client_secret: Secret::new("p@ss:w/rd é"),
        scopes: vec!["openid".into(), "email".into(), "groups".into()],
        groups_claim: "groups".into(),
        token_auth_method: method,
        allowed_algs: vec!["RS256".into()],
        clock_skew: Duration::from_secs(60),
        post_logout_redirect_uri: url::Url::parse("https://site.example.com/").unwrap(),
        http_timeout: Duration::from_secs(2),
    }
}

fn oidc_for(issuer: &str, method: TokenAuthMethod) -> Arc<Oidc> {
    Oidc::with_timing(
        config(issuer, method),
        "https://site.example.com/_auth/callback".into(),
        crate::http::client::build(Duration::from_secs(1)),
        test_timing(),
    )
}

async fn wait_ready(oidc: &Oidc) {
    for _ in 0..200 {
        if oidc.readiness().is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("not ready: {:?}", oidc.readiness());
}

/// An ID token for the mock OP's issuer and the test client.
fn op_token(issuer: &str, k: &CoreRsaPrivateSigningKey, kid: &str, extra: Value) -> String {
    let n = now();
    let mut c = json!({"iss": issuer, "aud": "my client", "sub": "00u1", "exp": n + 300, "iat": n,
        "nonce": NONCE, "email": "ada@example.com", "email_verified": true});
    for (k2, v) in extra.as_object().unwrap() {
        c[k2] = v.clone();
    }
    rs(
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        k,
        Some(kid),
        c,
    )
}

async fn started() -> (
    Op,
    TestServer,
    Arc<Oidc>,
    tokio::task::JoinHandle<()>,
    String,
) {
    started_with(TokenAuthMethod::ClientSecretBasic).await
}

async fn started_with(
    method: TokenAuthMethod,
) -> (
    Op,
    TestServer,
    Arc<Oidc>,
    tokio::task::JoinHandle<()>,
    String,
) {
    let op = Op::new();
    let server = TestServer::start(op.handler()).await;
    let issuer = server.url("");
    let oidc = oidc_for(&issuer, method);
    let task = oidc.spawn_discovery();
    wait_ready(&oidc).await;
    (op, server, oidc, task, issuer)
}

#[test]
fn discovery_url_has_one_slash() {
    assert_eq!(
        provider::discovery_url("https://org.okta.com"),
        "https://org.okta.com/.well-known/openid-configuration"
    );
    assert_eq!(
        provider::discovery_url("https://org.okta.com/oauth2/default"),
        "https://org.okta.com/oauth2/default/.well-known/openid-configuration"
    );
    assert_eq!(
        provider::discovery_url("https://op.example/"),
        "https://op.example/.well-known/openid-configuration"
    );
}

#[tokio::test]
async fn discovery_loads_and_readiness_flips() {
    let op = Op::new();
    let server = TestServer::start(op.handler()).await;
    let oidc = oidc_for(&server.url(""), TokenAuthMethod::ClientSecretBasic);
    assert!(oidc.readiness().unwrap_err().contains("not loaded yet"));
    assert!(matches!(oidc.begin(), Err(OidcError::NotReady(_))));
    assert!(!oidc.has_end_session());
    let task = oidc.spawn_discovery();
    wait_ready(&oidc).await;
    assert!(oidc.has_end_session());
    assert_eq!(server.hits("/.well-known/openid-configuration"), 1);
    assert_eq!(server.hits("/keys"), 1);
    task.abort();
}

#[tokio::test]
async fn discovery_refuses_issuer_mismatch() {
    let op = Op::new();
    *op.issuer_suffix.lock().unwrap() = "/".into();
    let server = TestServer::start(op.handler()).await;
    let oidc = oidc_for(&server.url(""), TokenAuthMethod::ClientSecretBasic);
    let task = oidc.spawn_discovery();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let err = oidc.readiness().unwrap_err();
    assert!(err.contains("is not the configured issuer"), "{err}");
    assert!(
        server.hits("/.well-known/openid-configuration") >= 2,
        "it retries"
    );
    assert_eq!(server.hits("/keys"), 0);
    // The IdP fixes its metadata: the next retry loads it.
    *op.issuer_suffix.lock().unwrap() = String::new();
    wait_ready(&oidc).await;
    task.abort();
}

#[tokio::test]
async fn discovery_retries_until_the_server_comes_up() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let issuer = format!("http://{addr}");
    let oidc = oidc_for(&issuer, TokenAuthMethod::ClientSecretBasic);
    let task = oidc.spawn_discovery();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = oidc.readiness().unwrap_err();
    assert!(err.starts_with("IdP metadata not loaded yet: "), "{err}");
    assert!(
        err.contains(&format!("{issuer}/.well-known/openid-configuration")),
        "{err}"
    );
    let op = Op::new();
    let _server = TestServer::start_on(addr, op.handler()).await;
    wait_ready(&oidc).await;
    task.abort();
}

#[tokio::test]
async fn begin_builds_the_authorization_url() {
    let (_op, server, oidc, task, _) = started().await;
    let a = oidc.begin().unwrap();
    let b = oidc.begin().unwrap();
    assert_ne!(a.state, b.state);
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.pkce_verifier, b.pkce_verifier);
    for v in [&a.state, &a.nonce, &a.pkce_verifier] {
        assert_eq!(URL_SAFE_NO_PAD.decode(v).unwrap().len(), 32);
    }
    let url = url::Url::parse(&a.url).unwrap();
    assert!(a.url.starts_with(&server.url("/authorize?tenant=t1&")));
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "my client");
    assert_eq!(q["redirect_uri"], "https://site.example.com/_auth/callback");
    assert_eq!(q["scope"], "openid email groups");
    assert_eq!(q["state"], a.state);
    assert_eq!(q["nonce"], a.nonce);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(
        q["code_challenge"],
        super::flow::pkce_challenge(&a.pkce_verifier)
    );
    assert!(!a.url.contains(&a.pkce_verifier));
    assert!(!format!("{a:?}").contains(&a.state));
    task.abort();
}

#[tokio::test]
async fn end_session_url_has_all_parameters() {
    let (_op, server, oidc, task, _) = started().await;
    let u = oidc
        .end_session_url(Some("idtok"), "https://site.example.com/", "st")
        .unwrap();
    assert_eq!(
        u,
        format!("{}?id_token_hint=idtok&post_logout_redirect_uri=https%3A%2F%2Fsite.example.com%2F&state=st&client_id=my+client", server.url("/logout"))
    );
    let u = oidc
        .end_session_url(None, "https://site.example.com/", "st")
        .unwrap();
    assert!(!u.contains("id_token_hint"));
    task.abort();
}

#[tokio::test]
async fn exchange_with_client_secret_basic_and_groups_in_the_token() {
    let (op, server, oidc, task, issuer) = started().await;
    let id = op_token(
        &issuer,
        &key(KEY_PEM, "k1"),
        "k1",
        json!({"groups": ["editors"],
        "at_hash": at_hash(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, ACCESS).unwrap()}),
    );
    *op.token.lock().unwrap() = (
        200,
        json!({"access_token": ACCESS, "token_type": "Bearer", "id_token": id, "refresh_token": "rt-1", "expires_in": 3600}),
    );
    let t = oidc.exchange("code-1", "verifier-1", NONCE).await.unwrap();
    assert_eq!(t.identity.sub, "00u1");
    assert_eq!(t.identity.groups, vec!["editors"]);
    assert!(t.identity.email_verified);
    assert_eq!(t.refresh_token.as_deref(), Some("rt-1"));
    assert_eq!(t.id_token.as_deref(), Some(id.as_str()));
    assert_eq!(server.hits("/userinfo"), 0);
    let req = server
        .requests()
        .into_iter()
        .find(|r| r.path == "/token")
        .unwrap();
    let expected_basic = format!(
        "Basic {}",
        STANDARD.encode("my+client:p%40ss%3Aw%2Frd+%C3%A9")
    );
    assert_eq!(req.headers["authorization"], expected_basic.as_str());
    assert_eq!(
        req.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "code-1");
    assert_eq!(form["code_verifier"], "verifier-1");
    assert_eq!(
        form["redirect_uri"],
        "https://site.example.com/_auth/callback"
    );
    assert!(!form.contains_key("client_secret"));
    // A wrong nonce fails the same exchange.
    assert_eq!(
        oidc.exchange("code-1", "verifier-1", "other")
            .await
            .unwrap_err(),
        OidcError::IdToken(R::NonceMismatch)
    );
    assert!(!format!("{t:?}").contains("rt-1"));
    task.abort();
}

#[tokio::test]
async fn exchange_with_client_secret_post_and_groups_from_userinfo() {
    let (op, server, oidc, task, issuer) = started_with(TokenAuthMethod::ClientSecretPost).await;
    let id = op_token(&issuer, &key(KEY_PEM, "k1"), "k1", json!({}));
    *op.token.lock().unwrap() = (
        200,
        json!({"access_token": ACCESS, "token_type": "bearer", "id_token": id}),
    );
    let t = oidc.exchange("code-1", "verifier-1", NONCE).await.unwrap();
    assert_eq!(t.identity.groups, vec!["from-userinfo"]);
    assert_eq!(t.refresh_token, None);
    let tok = server
        .requests()
        .into_iter()
        .find(|r| r.path == "/token")
        .unwrap();
    assert!(tok.headers.get("authorization").is_none());
    let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&tok.body)
        .into_owned()
        .collect();
    assert_eq!(form["client_id"], "my client");
    assert_eq!(form["client_secret"], "p@ss:w/rd é");
    let ui = server
        .requests()
        .into_iter()
        .find(|r| r.path == "/userinfo")
        .unwrap();
    assert_eq!(
        ui.headers["authorization"],
        format!("Bearer {ACCESS}").as_str()
    );

    // userinfo for another subject
    *op.userinfo.lock().unwrap() = (200, json!({"sub": "00uOTHER", "groups": ["admins"]}));
    assert_eq!(
        oidc.exchange("c", "v", NONCE).await.unwrap_err(),
        OidcError::IdToken(R::UserinfoSubMismatch)
    );
    *op.userinfo.lock().unwrap() = (200, json!({"groups": ["admins"]}));
    assert_eq!(
        oidc.exchange("c", "v", NONCE).await.unwrap_err(),
        OidcError::IdToken(R::UserinfoSubMismatch)
    );
    task.abort();
}

#[tokio::test]
async fn exchange_errors() {
    let (op, _server, oidc, task, _) = started().await;
    *op.token.lock().unwrap() = (
        400,
        json!({"error": "invalid_grant", "error_description": "code expired"}),
    );
    assert_eq!(
        oidc.exchange("c", "v", NONCE).await.unwrap_err(),
        OidcError::TokenEndpoint {
            error: "invalid_grant".into(),
            description: Some("code expired".into())
        }
    );
    *op.token.lock().unwrap() = (502, json!("bad gateway"));
    assert!(matches!(
        oidc.exchange("c", "v", NONCE).await.unwrap_err(),
        OidcError::Http {
            endpoint: "token",
            ..
        }
    ));
    *op.token.lock().unwrap() = (200, json!({"access_token": ACCESS, "token_type": "Bearer"}));
    assert!(matches!(
        oidc.exchange("c", "v", NONCE).await.unwrap_err(),
        OidcError::InvalidResponse {
            endpoint: "token",
            ..
        }
    ));
    *op.token.lock().unwrap() = (
        200,
        json!({"access_token": ACCESS, "token_type": "mac", "id_token": "x"}),
    );
    assert!(matches!(
        oidc.exchange("c", "v", NONCE).await.unwrap_err(),
        OidcError::InvalidResponse {
            endpoint: "token",
            ..
        }
    ));
    task.abort();
}

#[tokio::test]
async fn unknown_kid_refetches_the_jwks_once_rate_limited() {
    let (op, server, oidc, task, issuer) = started().await;
    let k2 = key(OTHER_KEY_PEM, "k2");
    *op.jwks.lock().unwrap() = serde_json::to_value(jwks_of(&[&key(KEY_PEM, "k1"), &k2])).unwrap();
    let id = op_token(&issuer, &k2, "k2", json!({"groups": []}));
    *op.token.lock().unwrap() = (
        200,
        json!({"access_token": ACCESS, "token_type": "Bearer", "id_token": id}),
    );
    oidc.exchange("c", "v", NONCE).await.unwrap();
    assert_eq!(server.hits("/keys"), 2);
    // A kid the IdP does not have either: within 10 s no further fetch.
    let id = op_token(&issuer, &k2, "k3", json!({}));
    *op.token.lock().unwrap() = (
        200,
        json!({"access_token": ACCESS, "token_type": "Bearer", "id_token": id}),
    );
    assert_eq!(
        oidc.exchange("c", "v", NONCE).await.unwrap_err(),
        OidcError::IdToken(R::UnknownKid)
    );
    assert_eq!(server.hits("/keys"), 2);
    task.abort();
}

fn previous() -> Identity {
    Identity {
        sub: "00u1".into(),
        email: Some("ada@example.com".into()),
        email_verified: true,
        name: None,
        preferred_username: None,
        groups: vec!["old".into()],
    }
}

#[tokio::test]
async fn refresh_outcomes() {
    let (op, server, oidc, task, issuer) = started().await;
    let prev = previous();

    // Rejected: invalid_grant.
    *op.token.lock().unwrap() = (400, json!({"error": "invalid_grant"}));
    assert_eq!(
        oidc.refresh("rt", &prev).await.unwrap_err(),
        RefreshError::Rejected("invalid_grant".into())
    );
    // Unavailable: 5xx, 429, temporarily_unavailable.
    *op.token.lock().unwrap() = (503, json!("down"));
    assert!(matches!(
        oidc.refresh("rt", &prev).await.unwrap_err(),
        RefreshError::Unavailable(_)
    ));
    *op.token.lock().unwrap() = (429, json!({}));
    assert!(matches!(
        oidc.refresh("rt", &prev).await.unwrap_err(),
        RefreshError::Unavailable(_)
    ));
    *op.token.lock().unwrap() = (400, json!({"error": "temporarily_unavailable"}));
    assert!(matches!(
        oidc.refresh("rt", &prev).await.unwrap_err(),
        RefreshError::Unavailable(_)
    ));
    // Invalid: garbage 200, bad ID token, another subject.
    *op.token.lock().unwrap() = (200, json!({"nope": 1}));
    assert!(matches!(
        oidc.refresh("rt", &prev).await.unwrap_err(),
        RefreshError::Invalid(_)
    ));
    let bad = op_token(
        &issuer,
        &key(OTHER_KEY_PEM, "k1"),
        "k1",
        json!({"groups": ["g"]}),
    );
    *op.token.lock().unwrap() = (
        200,
        json!({"access_token": ACCESS, "token_type": "Bearer", "id_token": bad}),
    );
    assert_eq!(
        oidc.refresh("rt", &prev).await.unwrap_err(),
        RefreshError::Invalid("ID token rejected: bad_signature".into())
    );
    let other = op_token(
        &issuer,
        &key(KEY_PEM, "k1"),
        "k1",
        json!({"sub": "00uX", "groups": ["g"]}),
    );
    *op.token.lock().unwrap() = (
        200,
        json!({"access_token": ACCESS, "token_type": "Bearer", "id_token": other}),
    );
    assert!(matches!(
        oidc.refresh("rt", &prev).await.unwrap_err(),
        RefreshError::Invalid(_)
    ));

    // With an ID token (no nonce on refresh): groups from it, new refresh token returned.
    let n = now();
    let tok = rs(
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        &key(KEY_PEM, "k1"),
        Some("k1"),
        json!({"iss": issuer, "aud": "my client", "sub": "00u1", "exp": n + 300, "iat": n, "groups": ["new"]}),
    );
    *op.token.lock().unwrap() = (
        200,
        json!({"access_token": ACCESS, "token_type": "Bearer", "id_token": tok, "refresh_token": "rt-2"}),
    );
    let hits = server.hits("/userinfo");
    let t = oidc.refresh("rt", &prev).await.unwrap();
    assert_eq!(t.identity.groups, vec!["new"]);
    assert_eq!(t.refresh_token.as_deref(), Some("rt-2"));
    assert!(t.id_token.is_some());
    assert_eq!(server.hits("/userinfo"), hits);

    // Without an ID token: groups from userinfo, previous refresh token kept.
    *op.token.lock().unwrap() = (200, json!({"access_token": ACCESS, "token_type": "Bearer"}));
    let t = oidc.refresh("rt", &prev).await.unwrap();
    assert_eq!(t.identity.groups, vec!["from-userinfo"]);
    assert_eq!(t.identity.email, prev.email);
    assert_eq!(t.refresh_token.as_deref(), Some("rt"));
    assert_eq!(t.id_token, None);
    let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(
        &server
            .requests()
            .into_iter()
            .rev()
            .find(|r| r.path == "/token")
            .unwrap()
            .body,
    )
    .into_owned()
    .collect();
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], "rt");
    // ... and userinfo naming someone else, or down.
    *op.userinfo.lock().unwrap() = (200, json!({"sub": "00uX", "groups": ["admins"]}));
    assert!(matches!(
        oidc.refresh("rt", &prev).await.unwrap_err(),
        RefreshError::Invalid(_)
    ));
    *op.userinfo.lock().unwrap() = (503, json!({}));
    assert!(matches!(
        oidc.refresh("rt", &prev).await.unwrap_err(),
        RefreshError::Unavailable(_)
    ));
    task.abort();
}

#[tokio::test]
async fn refresh_when_the_idp_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let oidc = oidc_for(
        &format!("http://{addr}"),
        TokenAuthMethod::ClientSecretBasic,
    );
    assert!(matches!(
        oidc.refresh("rt", &previous()).await.unwrap_err(),
        RefreshError::Unavailable(_)
    ));
    // Loaded, then the IdP goes away.
    let (_op, server, oidc, task, _) = started().await;
    drop(server);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(matches!(
        oidc.refresh("rt", &previous()).await.unwrap_err(),
        RefreshError::Unavailable(_)
    ));
    task.abort();
}
