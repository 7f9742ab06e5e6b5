//! Throwaway certificates made by openssl for TLS tests (never committed).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::server::fresh_dir;

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, in `dir`; the server
/// key also as encrypted PKCS#8 (password "secret").
pub fn make_certs() -> PathBuf {
    let dir = fresh_dir();
    let days = ["-days", "2"];
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=cinnabar test CA",
            days[0],
            days[1],
        ],
    );
    // Version 3 certificates, as Redis's utils/gen-test-certs.sh makes them (webpki refuses
    // version 1).
    let ext =
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nkeyUsage=digitalSignature,keyEncipherment\n";
    std::fs::write(dir.join("server.ext"), ext).unwrap();
    std::fs::write(
        dir.join("client.ext"),
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    for name in ["server", "client"] {
        openssl(
            &dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        let mut sign = vec![
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr")[..],
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.crt")[..],
            days[0],
            days[1],
        ]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
        sign.extend(["-extfile".into(), format!("{name}.ext")]);
        let sign: Vec<&str> = sign.iter().map(String::as_str).collect();
        openssl(&dir, &sign);
    }
    openssl(
        &dir,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "server.key",
            "-out",
            "server-enc.key",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:secret",
        ],
    );
    dir
}

/// Server arguments: TLS on `tls_port` with the certificates in `certs`, then `extra`.
pub fn tls_args(certs: &Path, tls_port: u16, extra: &[&str]) -> Vec<String> {
    let p = |f: &str| certs.join(f).to_string_lossy().into_owned();
    let mut a = vec![
        "--tls-port".to_string(),
        tls_port.to_string(),
        "--tls-cert-file".into(),
        p("server.crt"),
        "--tls-key-file".into(),
        p("server.key"),
        "--tls-ca-cert-file".into(),
        p("ca.crt"),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}
