//! Unit tests of the assertion module.
use std::collections::HashSet;
use std::time::Duration;

use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::jws::{b64url_decode, b64url_encode};
use super::*;
use crate::identity::{Grant, Identity};

const ISS: &str = "https://site1.example.com";
const AUD: &str = "site1";
const NOW: u64 = 1_767_225_600;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn identity() -> Identity {
    Identity {
        sub: "00u1".into(),
        email: Some("ada@example.com".into()),
        email_verified: true,
        name: Some("Ada \"Countess\" Lovelace".into()),
        preferred_username: None,
        groups: vec!["cms-admins".into(), "site1-editors".into()],
    }
}

fn grant() -> Grant {
    Grant {
        role: "developer".into(),
        superuser: false,
    }
}

fn signer(lifetime: u64) -> Signer {
    Signer::new(
        key(1),
        ISS.into(),
        AUD.into(),
        Duration::from_secs(lifetime),
    )
}

fn verifier() -> Verifier {
    Verifier::new(
        &[key(9).verifying_key(), key(1).verifying_key()],
        ISS.into(),
        AUD.into(),
        30,
    )
}

fn good_claims() -> Value {
    json!({
        "iss": ISS, "aud": AUD, "sub": "00u1", "email": null, "name": "Ada", "preferred_username": "ada",
        "groups": ["a", "b"], "role": "developer", "superuser": false, "sid": "s1",
        "iat": NOW - 10, "exp": NOW + 50, "jti": "j1",
    })
}

fn header_for(k: &SigningKey) -> Value {
    json!({"alg": "EdDSA", "typ": "octogate-assertion+jwt", "kid": kid_for(&k.verifying_key())})
}

/// A token from raw header and payload bytes, signed by `k`.
fn forge_raw(header: &[u8], payload: &[u8], k: &SigningKey) -> String {
    let input = format!("{}.{}", b64url_encode(header), b64url_encode(payload));
    let sig = k.sign(input.as_bytes());
    format!("{input}.{}", b64url_encode(&sig.to_bytes()))
}

fn forge(header: &Value, claims: &Value, k: &SigningKey) -> String {
    forge_raw(
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
        k,
    )
}

fn with(claims: Value, name: &str, value: Value) -> Value {
    let mut c = claims;
    c[name] = value;
    c
}

fn without(claims: Value, name: &str) -> Value {
    let mut c = claims;
    c.as_object_mut().unwrap().remove(name);
    c
}

fn code(token: &str) -> &'static str {
    match verifier().verify(token, NOW) {
        Ok(_) => "ok",
        Err(v) => v.code(),
    }
}

#[test]
fn kid_of_known_key() {
    let public = key(7).verifying_key();
    let digest = Sha256::digest(public.as_bytes());
    let expected: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(kid_for(&public), expected);
    assert_eq!(kid_for(&public).len(), 16);
    assert_eq!(signer(60).kid(), kid_for(&key(1).verifying_key()));
}

#[test]
fn sign_verify_round_trip() {
    let s = signer(60);
    let signed = s.sign(&identity(), &grant(), "sid-1", NOW);
    assert_eq!(signed.exp, NOW + 60);
    let claims = verifier().verify(&signed.token, NOW).unwrap();
    assert_eq!(claims.iss, ISS);
    assert_eq!(claims.aud, AUD);
    assert_eq!(claims.sub, "00u1");
    assert_eq!(claims.email.as_deref(), Some("ada@example.com"));
    assert_eq!(claims.name.as_deref(), Some("Ada \"Countess\" Lovelace"));
    assert_eq!(claims.preferred_username, None);
    assert_eq!(claims.groups, ["cms-admins", "site1-editors"]);
    assert_eq!(claims.role, "developer");
    assert!(!claims.superuser);
    assert_eq!(claims.sid, "sid-1");
    assert_eq!((claims.iat, claims.exp), (NOW, NOW + 60));
    assert_eq!(b64url_decode(&claims.jti).unwrap().len(), 16);

    // Exact header, payload member order, and a fresh jti per token.
    let mut parts = signed.token.split('.');
    let header = b64url_decode(parts.next().unwrap()).unwrap();
    assert_eq!(
        String::from_utf8(header).unwrap(),
        format!(
            "{{\"alg\":\"EdDSA\",\"typ\":\"octogate-assertion+jwt\",\"kid\":\"{}\"}}",
            s.kid()
        )
    );
    let payload = String::from_utf8(b64url_decode(parts.next().unwrap()).unwrap()).unwrap();
    assert!(
        payload.starts_with(
            "{\"iss\":\"https://site1.example.com\",\"aud\":\"site1\",\"sub\":\"00u1\",\"email\":"
        ),
        "{payload}"
    );
    assert!(payload.contains("\"preferred_username\":null"));
    let again = verifier()
        .verify(&s.sign(&identity(), &grant(), "sid-1", NOW).token, NOW)
        .unwrap();
    assert_ne!(again.jti, claims.jti);
}

#[test]
fn lifetime_is_capped() {
    let signed = signer(100_000).sign(&identity(), &grant(), "s", NOW);
    assert_eq!(signed.exp, NOW + MAX_LIFETIME_SECS);
    assert!(verifier().verify(&signed.token, NOW).is_ok());
    assert_eq!(signer(0).sign(&identity(), &grant(), "s", NOW).exp, NOW + 1);
}

#[test]
fn every_verdict() {
    let k = key(1);
    let h = header_for(&k);
    let c = good_claims();
    let ok = forge(&h, &c, &k);
    assert_eq!(code(&ok), "ok");

    // 1. oversized, checked before anything else
    let padded = with(c.clone(), "pad", json!("x".repeat(7000)));
    let long = forge(&h, &padded, &k);
    assert!(long.len() > MAX_TOKEN_BYTES);
    assert_eq!(code(&long), "oversized");
    assert_eq!(code(&"*".repeat(MAX_TOKEN_BYTES + 1)), "oversized");

    // 2. malformed
    let (hb, rest) = ok.split_once('.').unwrap();
    let (pb, sb) = rest.split_once('.').unwrap();
    for bad in [
        String::new(),
        format!("{hb}.{pb}"),
        format!("{ok}."),
        format!("{hb}.{pb}.{sb}.{sb}"),
        format!("{hb}=.{pb}.{sb}"),
        format!("{hb}.{pb}.{sb}=="),
        format!("{hb}.{pb}.{}", sb.replace('-', "+").replace('_', "/")),
        format!(" {ok}"),
        format!("{ok}\n"),
        format!("{hb}.{pb}.{sb}AAA"),
        format!("{hb}.{pb}.é{sb}"),
        "..".into(),
    ] {
        assert_eq!(code(&bad), "malformed", "{bad:?}");
    }
    assert_eq!(
        code(&forge_raw(b"not json", c.to_string().as_bytes(), &k)),
        "malformed"
    );
    assert_eq!(
        code(&forge_raw(b"[1]", c.to_string().as_bytes(), &k)),
        "malformed"
    );
    assert_eq!(
        code(&forge_raw(h.to_string().as_bytes(), b"null", &k)),
        "malformed"
    );
    assert_eq!(
        code(&forge_raw(h.to_string().as_bytes(), b"{\"a\":\xff}", &k)),
        "malformed"
    );
    assert_eq!(
        code(&forge(&with(h.clone(), "typ", json!("at+jwt")), &c, &k)),
        "malformed"
    );
    assert_eq!(
        code(&forge(&with(h.clone(), "typ", json!(null)), &c, &k)),
        "malformed"
    );
    assert_eq!(
        code(&forge(&with(h.clone(), "crit", json!([])), &c, &k)),
        "malformed"
    );
    // non-canonical trailing bits in the signature segment
    assert_eq!(sb.len(), 86);
    assert_eq!(code(&format!("{hb}.{pb}.{}B", &sb[..85])), "malformed");
    assert_eq!(code(&format!("{hb}.{pb}.{sb}AA")), "bad_signature");

    // 3. unsupported_alg (before kid)
    for alg in [
        json!("none"),
        json!("eddsa"),
        json!("EdDSA "),
        json!("Ed25519"),
        json!(["EdDSA"]),
        json!(null),
    ] {
        let hh = json!({"alg": alg, "kid": "nope"});
        assert_eq!(code(&forge(&hh, &c, &k)), "unsupported_alg");
    }
    assert_eq!(
        code(&forge(&without(h.clone(), "alg"), &c, &k)),
        "unsupported_alg"
    );
    // explicit typing: typ is required, exactly
    assert_eq!(
        code(&forge(&without(h.clone(), "typ"), &c, &k)),
        "malformed"
    );
    for typ in [
        "JWT",
        "jwt",
        "OCTOGATE-ASSERTION+JWT",
        "octogate-assertion+jwt ",
    ] {
        assert_eq!(
            code(&forge(&with(h.clone(), "typ", json!(typ)), &c, &k)),
            "malformed",
            "{typ}"
        );
    }

    // 4. unknown_kid
    let stranger = key(42);
    assert_eq!(
        code(&forge(&header_for(&stranger), &c, &stranger)),
        "unknown_kid"
    );
    assert_eq!(
        code(&forge(&without(h.clone(), "kid"), &c, &k)),
        "unknown_kid"
    );
    assert_eq!(
        code(&forge(&with(h.clone(), "kid", json!(7)), &c, &k)),
        "unknown_kid"
    );
    assert_eq!(
        code(&forge(&with(h.clone(), "kid", json!("")), &c, &k)),
        "unknown_kid"
    );
    let upper = kid_for(&k.verifying_key()).to_uppercase();
    assert_eq!(
        code(&forge(&with(h.clone(), "kid", json!(upper)), &c, &k)),
        "unknown_kid"
    );

    // 5. bad_signature
    assert_eq!(code(&forge(&h, &c, &stranger)), "bad_signature");
    assert_eq!(code(&forge(&h, &c, &key(9))), "bad_signature");
    assert_eq!(code(&format!("{hb}.{pb}.")), "bad_signature");
    assert_eq!(
        code(&format!("{hb}.{pb}.{}", b64url_encode(&[0u8; 63]))),
        "bad_signature"
    );
    assert_eq!(
        code(&format!("{hb}.{pb}.{}", b64url_encode(&[0u8; 65]))),
        "bad_signature"
    );
    let other_payload = b64url_encode(
        with(c.clone(), "role", json!("publisher"))
            .to_string()
            .as_bytes(),
    );
    assert_eq!(code(&format!("{hb}.{other_payload}.{sb}")), "bad_signature");
    // a signature whose S is not reduced is rejected (strict)
    let mut sig = b64url_decode(sb).unwrap();
    sig[63] |= 0xf0;
    assert_eq!(
        code(&format!("{hb}.{pb}.{}", b64url_encode(&sig))),
        "bad_signature"
    );

    // 6. missing_claim
    for name in [
        "iss",
        "aud",
        "sub",
        "iat",
        "exp",
        "jti",
        "sid",
        "role",
        "superuser",
        "groups",
    ] {
        assert_eq!(
            code(&forge(&h, &without(c.clone(), name), &k)),
            "missing_claim",
            "{name}"
        );
        assert_eq!(
            code(&forge(&h, &with(c.clone(), name, json!(null)), &k)),
            "missing_claim",
            "{name}"
        );
    }
    for (name, value) in [
        ("iat", json!("1")),
        ("exp", json!(1.5)),
        ("exp", json!(NOW as f64)),
        ("iat", json!(-1)),
        ("superuser", json!(0)),
        ("superuser", json!("false")),
        ("groups", json!("a")),
        ("groups", json!(["a", 1])),
        ("groups", json!({"0": "a"})),
        ("role", json!("")),
        ("role", json!(["admin"])),
        ("sub", json!("")),
        ("sub", json!(5)),
        ("iss", json!([ISS])),
        ("aud", json!(5)),
        ("aud", json!({"a": AUD})),
        ("jti", json!(1)),
        ("sid", json!(false)),
    ] {
        assert_eq!(
            code(&forge(&h, &with(c.clone(), name, value.clone()), &k)),
            "missing_claim",
            "{name}={value}"
        );
    }
    let big_exp = forge_raw(
        h.to_string().as_bytes(),
        c.to_string()
            .replace(
                &format!("\"exp\":{}", NOW + 50),
                "\"exp\":9223372036854775808",
            )
            .as_bytes(),
        &k,
    );
    assert_eq!(code(&big_exp), "missing_claim");
    // missing_claim comes before wrong_issuer
    assert_eq!(
        code(&forge(
            &h,
            &with(with(c.clone(), "iss", json!("x")), "sid", json!(1)),
            &k
        )),
        "missing_claim"
    );
    // optional profile claims may be absent or of any type
    let lax = with(
        without(without(c.clone(), "email"), "name"),
        "preferred_username",
        json!(3),
    );
    assert_eq!(code(&forge(&h, &lax, &k)), "ok");

    // 7. wrong_issuer, 8. wrong_audience (both before time checks)
    let stale = with(with(c.clone(), "iat", json!(1)), "exp", json!(2));
    assert_eq!(
        code(&forge(
            &h,
            &with(stale.clone(), "iss", json!(format!("{ISS}/"))),
            &k
        )),
        "wrong_issuer"
    );
    assert_eq!(
        code(&forge(&h, &with(stale.clone(), "aud", json!("Site1")), &k)),
        "wrong_audience"
    );
    assert_eq!(
        code(&forge(&h, &with(c.clone(), "aud", json!([AUD])), &k)),
        "wrong_audience"
    );
    assert_eq!(
        code(&forge(&h, &with(c.clone(), "aud", json!([])), &k)),
        "wrong_audience"
    );

    // 9. not_yet_valid, 10. expired, 11. lifetime_too_long
    let times = |iat: u64, exp: u64| {
        code(&forge(
            &h,
            &with(with(c.clone(), "iat", json!(iat)), "exp", json!(exp)),
            &k,
        ))
    };
    assert_eq!(times(NOW + 30, NOW + 100), "ok");
    assert_eq!(times(NOW + 31, NOW + 100), "not_yet_valid");
    assert_eq!(times(NOW - 100, NOW - 29), "ok");
    assert_eq!(times(NOW - 100, NOW - 30), "expired");
    assert_eq!(times(NOW + 100, NOW - 100), "not_yet_valid");
    assert_eq!(times(NOW - 10, NOW - 100), "expired");
    assert_eq!(times(NOW - 10, NOW + 290), "ok");
    assert_eq!(times(NOW - 10, NOW + 291), "lifetime_too_long");
    assert_eq!(
        times(0, u64::try_from(i64::MAX).unwrap()),
        "lifetime_too_long"
    );
    assert_eq!(times(NOW - 1000, NOW - 500), "expired");
}

#[test]
fn verdict_codes_and_display() {
    let all = [
        (Verdict::Oversized, "oversized"),
        (Verdict::Malformed, "malformed"),
        (Verdict::UnsupportedAlg, "unsupported_alg"),
        (Verdict::UnknownKid, "unknown_kid"),
        (Verdict::BadSignature, "bad_signature"),
        (Verdict::MissingClaim, "missing_claim"),
        (Verdict::WrongIssuer, "wrong_issuer"),
        (Verdict::WrongAudience, "wrong_audience"),
        (Verdict::NotYetValid, "not_yet_valid"),
        (Verdict::Expired, "expired"),
        (Verdict::LifetimeTooLong, "lifetime_too_long"),
    ];
    for (v, c) in all {
        assert_eq!(v.code(), c);
        assert!(v.to_string().starts_with(c));
    }
}

#[test]
fn never_panics_on_junk() {
    let v = verifier();
    let k = key(1);
    let h = header_for(&k).to_string();
    let mut junk = vec![
        String::new(),
        ".".into(),
        "...".into(),
        "a.b.c".into(),
        "AAAA.AAAA.AAAA".into(),
    ];
    junk.push(forge_raw(h.as_bytes(), "[".repeat(5000).as_bytes(), &k));
    junk.push(forge_raw(
        h.as_bytes(),
        format!("{{\"a\":{}}}", "[".repeat(70)).as_bytes(),
        &k,
    ));
    junk.push(forge_raw(h.as_bytes(), b"{\"exp\":1e400,\"iat\":-0}", &k));
    for t in &junk {
        assert!(v.verify(t, NOW).is_err());
        assert!(v.verify(t, u64::MAX).is_err());
        assert!(v.verify(t, 0).is_err());
    }
    let ok = forge(&header_for(&k), &good_claims(), &k);
    assert_eq!(v.verify(&ok, u64::MAX).unwrap_err(), Verdict::Expired);
    assert_eq!(v.verify(&ok, 0).unwrap_err(), Verdict::NotYetValid);
}

#[test]
fn cache_reuses_within_half_life_then_resigns() {
    let s = signer(60);
    let cache = AssertionCache::new(16);
    let t0 = cache.get_or_sign(&s, &identity(), &grant(), "sid", NOW);
    assert_eq!(
        cache.get_or_sign(&s, &identity(), &grant(), "sid", NOW + 29),
        t0
    );
    let t1 = cache.get_or_sign(&s, &identity(), &grant(), "sid", NOW + 30);
    assert_ne!(t1, t0);
    assert_eq!(verifier().verify(&t1, NOW + 30).unwrap().iat, NOW + 30);
    assert_eq!(
        cache.get_or_sign(&s, &identity(), &grant(), "sid", NOW + 59),
        t1
    );
    // another session never shares a token
    assert_ne!(
        cache.get_or_sign(&s, &identity(), &grant(), "other", NOW + 59),
        t1
    );
    // a clock that went backwards does not reuse a token issued "in the future"
    assert_ne!(cache.get_or_sign(&s, &identity(), &grant(), "sid", NOW), t1);
    assert_eq!(cache.len(), 2);
}

#[test]
fn cache_resigns_on_changed_identity_grant_or_signer() {
    let s = signer(60);
    let cache = AssertionCache::new(16);
    let t0 = cache.get_or_sign(&s, &identity(), &grant(), "sid", NOW);

    let promoted = Grant {
        role: "publisher".into(),
        superuser: false,
    };
    let t1 = cache.get_or_sign(&s, &identity(), &promoted, "sid", NOW + 1);
    assert_ne!(t1, t0);
    assert_eq!(verifier().verify(&t1, NOW + 1).unwrap().role, "publisher");

    let su = Grant {
        role: "publisher".into(),
        superuser: true,
    };
    let t2 = cache.get_or_sign(&s, &identity(), &su, "sid", NOW + 1);
    assert!(verifier().verify(&t2, NOW + 1).unwrap().superuser);

    let mut regrouped = identity();
    regrouped.groups.pop();
    let t3 = cache.get_or_sign(&s, &regrouped, &su, "sid", NOW + 1);
    assert_eq!(
        verifier().verify(&t3, NOW + 1).unwrap().groups,
        ["cms-admins"]
    );
    // group order matters too
    let mut swapped = identity();
    swapped.groups.reverse();
    assert_ne!(cache.get_or_sign(&s, &swapped, &su, "sid", NOW + 1), t3);

    let rotated = Signer::new(key(9), ISS.into(), AUD.into(), Duration::from_secs(60));
    let t4 = cache.get_or_sign(&rotated, &swapped, &su, "sid", NOW + 1);
    assert!(t4.starts_with(&b64url_encode(
        format!(
            "{{\"alg\":\"EdDSA\",\"typ\":\"octogate-assertion+jwt\",\"kid\":\"{}\"}}",
            rotated.kid()
        )
        .as_bytes()
    )));
    assert_eq!(cache.len(), 1);
}

#[test]
fn cache_stays_bounded() {
    let s = signer(60);
    let cache = AssertionCache::new(64);
    for i in 0..1000u64 {
        cache.get_or_sign(
            &s,
            &identity(),
            &grant(),
            &format!("sid-{i}"),
            NOW + i / 100,
        );
        assert!(cache.len() <= 64);
    }
    // stale entries are dropped first when full
    let small = AssertionCache::new(8);
    for i in 0..8 {
        small.get_or_sign(&s, &identity(), &grant(), &format!("old-{i}"), NOW);
    }
    let fresh = small.get_or_sign(&s, &identity(), &grant(), "new", NOW + 40);
    assert_eq!(small.len(), 1);
    assert_eq!(
        small.get_or_sign(&s, &identity(), &grant(), "new", NOW + 41),
        fresh
    );
    let zero = AssertionCache::new(0);
    zero.get_or_sign(&s, &identity(), &grant(), "a", NOW);
    zero.get_or_sign(&s, &identity(), &grant(), "b", NOW);
    assert_eq!(zero.len(), 1);
    zero.clear();
    assert!(zero.is_empty());
}

#[test]
fn cache_is_thread_safe() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AssertionCache>();
    assert_send_sync::<Signer>();
    assert_send_sync::<Verifier>();
    let s = signer(60);
    let cache = AssertionCache::new(32);
    let tokens: HashSet<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..50)
                        .map(|_| cache.get_or_sign(&s, &identity(), &grant(), "sid", NOW))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    // racing first misses may each sign once; after that everyone reuses
    assert!(tokens.len() <= 4, "{}", tokens.len());
}

#[test]
fn jwks_shape() {
    let current = key(1).verifying_key();
    let previous = [key(2).verifying_key(), current, key(3).verifying_key()];
    let jwks: Value = serde_json::from_str(&jwks_json(&current, &previous)).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(jwks.as_object().unwrap().len(), 1);
    assert_eq!(keys.len(), 3);
    for (jwk, k) in keys.iter().zip([current, previous[0], previous[2]]) {
        assert_eq!(jwk.as_object().unwrap().len(), 6);
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["alg"], "EdDSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], kid_for(&k));
        let x = jwk["x"].as_str().unwrap();
        assert!(!x.contains('='));
        assert_eq!(b64url_decode(x).unwrap(), k.as_bytes());
    }
    let single: Value = serde_json::from_str(&jwks_json(&current, &[])).unwrap();
    assert_eq!(single["keys"].as_array().unwrap().len(), 1);
}

#[test]
fn keygen_material() {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    let m = generate_keys();
    assert_eq!(STANDARD.decode(&m.cookie_key_b64).unwrap().len(), 32);
    assert_eq!(m.cookie_key_b64.len(), 44);
    let sk = SigningKey::from_pkcs8_pem(&m.signing_key_pem).unwrap();
    let public = sk.verifying_key();
    assert_eq!(m.public_key_b64, public_key_b64(&public));
    assert_eq!(
        STANDARD.decode(&m.public_key_b64).unwrap(),
        public.as_bytes()
    );
    assert_eq!(m.kid, kid_for(&public));
    assert!(m
        .signing_key_pem
        .starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(!format!("{m:?}").contains(&m.cookie_key_b64));
    // same DER as the pkcs8 crate's v1 encoding of a known seed
    let known = keys_pem_of(&key(5));
    assert_eq!(
        SigningKey::from_pkcs8_pem(&known).unwrap().to_bytes(),
        [5u8; 32]
    );
    assert_ne!(generate_keys().kid, m.kid);
    let _: VerifyingKey = public;
}

fn keys_pem_of(k: &SigningKey) -> String {
    super::keys::pkcs8_pem_for_tests(k)
}
