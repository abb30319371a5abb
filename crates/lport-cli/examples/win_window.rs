//! A Windows program with a window that listens on 127.0.0.1:PORT until its window is
//! closed: the Windows suite (`tests/windows`) checks that `lport kill` asks it to close
//! (`WM_CLOSE`) and that it then exits by itself (status 0; `TerminateProcess` would leave
//! 1). Usage: `win_window.exe PORT`. Elsewhere it only says it is for Windows.

#[cfg(windows)]
mod window {
    use std::net::TcpListener;

    use windows_sys::Win32::Foundation::{HWND, LPARAM, LRESULT, WPARAM};
    use windows_sys::Win32::System::LibraryLoader::GetModuleHandleW;
    use windows_sys::Win32::UI::WindowsAndMessaging::{
        CW_USEDEFAULT, CreateWindowExW, DefWindowProcW, DestroyWindow, DispatchMessageW,
        GetMessageW, MSG, PostQuitMessage, RegisterClassW, SW_SHOWNORMAL, ShowWindow,
        TranslateMessage, WM_CLOSE, WM_DESTROY, WNDCLASSW, WS_OVERLAPPEDWINDOW,
    };

    unsafe extern "system" fn proc(w: HWND, msg: u32, wp: WPARAM, lp: LPARAM) -> LRESULT {
        match msg {
            WM_CLOSE => {
                println!("closing");
                // SAFETY: w is this window.
                unsafe { DestroyWindow(w) };
                0
            }
            WM_DESTROY => {
                // SAFETY: no preconditions.
                unsafe { PostQuitMessage(0) };
                0
            }
            // SAFETY: the default handling of a message for this window.
            _ => unsafe { DefWindowProcW(w, msg, wp, lp) },
        }
    }

    pub(crate) fn main() {
        let port: u16 = std::env::args()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .expect("usage: win_window PORT");
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
        let class: Vec<u16> = "lport-test-window\0".encode_utf16().collect();
        // SAFETY: a class with a static name and this module's window procedure; the window
        // is made, shown and pumped on this thread.
        unsafe {
            let module = GetModuleHandleW(std::ptr::null());
            let wc = WNDCLASSW {
                lpfnWndProc: Some(proc),
                hInstance: module,
                lpszClassName: class.as_ptr(),
                ..std::mem::zeroed()
            };
            assert!(RegisterClassW(&raw const wc) != 0, "RegisterClassW");
            let w = CreateWindowExW(
                0,
                class.as_ptr(),
                class.as_ptr(),
                WS_OVERLAPPEDWINDOW,
                CW_USEDEFAULT,
                CW_USEDEFAULT,
                320,
                200,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                module,
                std::ptr::null(),
            );
            assert!(!w.is_null(), "CreateWindowExW");
            ShowWindow(w, SW_SHOWNORMAL);
            println!("ready");
            let mut msg: MSG = std::mem::zeroed();
            while GetMessageW(&raw mut msg, std::ptr::null_mut(), 0, 0) > 0 {
                TranslateMessage(&raw const msg);
                DispatchMessageW(&raw const msg);
            }
        }
        drop(listener);
    }
}

fn main() {
    #[cfg(windows)]
    window::main();
    #[cfg(not(windows))]
    eprintln!("win_window is a Windows program (the Windows suite's windowed listener)");
}
