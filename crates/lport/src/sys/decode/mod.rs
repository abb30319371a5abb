//! Pure decoders of other operating systems' kernel records. They are compiled on every
//! platform, so their fixture tests run natively here (`cargo test -p lport -- macos`);
//! each OS backend only fetches the bytes and hands them over.

// Not every decoder is used on every platform: on Linux only the tests call them.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) mod macos;
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) mod windows;
