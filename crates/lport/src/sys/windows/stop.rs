//! A gentle stop where Windows has one: `WM_CLOSE` to a program's top-level windows, or
//! Ctrl-C to a console program whose console it has to itself. Windows has no signals;
//! without either, `TerminateProcess` is all there is.
//!
//! A console event reaches every process attached to the console, so it is sent only when
//! the target is the one process there: a helper (this same program, started with
//! `LPORT_CTRL_C=<pid>`, since a process can be attached to one console at a time)
//! attaches to the target's console, checks who else is on it, and sends the event.
//! Ctrl-C rather than Ctrl-Break: both are what a console program stops on, and Wine
//! (where this is tested) implements only Ctrl-C. A program started with
//! `CREATE_NEW_PROCESS_GROUP` ignores Ctrl-C unless it asks for it: `kill` terminates it
//! after `--grace`.

use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{HWND, LPARAM};
use windows_sys::Win32::System::Console::{
    AttachConsole, CTRL_C_EVENT, FreeConsole, GenerateConsoleCtrlEvent, GetConsoleProcessList,
    SetConsoleCtrlHandler,
};
use windows_sys::Win32::System::Threading::{CREATE_NO_WINDOW, GetCurrentProcessId};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    EnumWindows, GW_OWNER, GetWindow, GetWindowThreadProcessId, IsWindowVisible, PostMessageW,
    WM_CLOSE,
};

/// The environment variable that makes lport the Ctrl-C helper for that pid.
const HELPER_VAR: &str = "LPORT_CTRL_C";

/// How the helper ended: 0 sent; these say why it did not.
const NO_CONSOLE: i32 = 3;
const SHARED_CONSOLE: i32 = 4;
const NOT_SENT: i32 = 5;

/// Asks `pid` to close. Returns how it was asked, or `None` when Windows has no gentle
/// way for this process (no window, no console of its own).
pub(crate) fn ask_to_close(pid: u32) -> Option<&'static str> {
    let windows = top_level_windows(pid);
    if !windows.is_empty() {
        for w in windows {
            // SAFETY: a window handle from EnumWindows; a stale one fails harmlessly.
            unsafe { PostMessageW(w, WM_CLOSE, 0, 0) };
        }
        return Some("WM_CLOSE");
    }
    ctrl_c(pid).then_some("Ctrl-C")
}

/// The visible, unowned top-level windows of `pid` (its main windows).
fn top_level_windows(pid: u32) -> Vec<HWND> {
    struct Search {
        pid: u32,
        found: Vec<HWND>,
    }
    unsafe extern "system" fn each(w: HWND, param: LPARAM) -> i32 {
        // SAFETY: param is the &mut Search passed to EnumWindows below, alive for its call.
        let search = unsafe { &mut *(param as *mut Search) };
        let mut owner = 0u32;
        // SAFETY: w is a window EnumWindows hands out; owner is a valid out pointer.
        unsafe { GetWindowThreadProcessId(w, &raw mut owner) };
        // SAFETY: as above.
        let main = unsafe { IsWindowVisible(w) != 0 && GetWindow(w, GW_OWNER).is_null() };
        if owner == search.pid && main {
            search.found.push(w);
        }
        1
    }
    let mut search = Search {
        pid,
        found: Vec::new(),
    };
    // SAFETY: the callback only touches `search` through the pointer, during this call.
    unsafe { EnumWindows(Some(each), (&raw mut search) as LPARAM) };
    search.found
}

/// Runs the helper for `pid` and says whether it sent Ctrl-C.
fn ctrl_c(pid: u32) -> bool {
    use std::os::windows::process::CommandExt;
    let Ok(exe) = std::env::current_exe() else {
        return false;
    };
    let Ok(mut child) = std::process::Command::new(exe)
        .env(HELPER_VAR, pid.to_string())
        .creation_flags(CREATE_NO_WINDOW)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    else {
        return false;
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return st.code() == Some(0),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// When this process is the Ctrl-C helper, does its one job and returns the exit code.
pub(crate) fn helper() -> Option<i32> {
    let pid: u32 = std::env::var(HELPER_VAR).ok()?.parse().ok()?;
    Some(send_ctrl_c(pid))
}

/// The helper gets the event too: a handler that takes it keeps the helper alive.
unsafe extern "system" fn take(_event: u32) -> i32 {
    1
}

fn send_ctrl_c(pid: u32) -> i32 {
    // SAFETY: plain calls on this process's own console attachment.
    unsafe {
        FreeConsole();
        if AttachConsole(pid) == 0 {
            return NO_CONSOLE;
        }
    }
    let mut list = [0u32; 64];
    // SAFETY: list is a writable buffer of the length given.
    let n = unsafe { GetConsoleProcessList(list.as_mut_ptr(), list.len() as u32) } as usize;
    // SAFETY: no preconditions.
    let me = unsafe { GetCurrentProcessId() };
    let others = list[..n.min(list.len())]
        .iter()
        .any(|&p| p != pid && p != me);
    if n == 0 || n > list.len() || others {
        return SHARED_CONSOLE;
    }
    // SAFETY: the console holds only the helper and the target.
    unsafe {
        SetConsoleCtrlHandler(Some(take), 1);
        if GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0) == 0 {
            return NOT_SENT;
        }
    }
    0
}
