//! A Windows service that listens on 127.0.0.1:PORT until the service manager stops it:
//! the Windows suite (`tests/windows`) registers it with `sc create` to test that lport
//! names a socket's service and stops a service through its manager rather than killing
//! its process. Usage, as the service's binary path: `win_service.exe NAME PORT`.
//! Elsewhere it only says it is for Windows.

#[cfg(windows)]
mod service {
    use std::net::TcpListener;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use windows_sys::Win32::Foundation::NO_ERROR;
    use windows_sys::Win32::System::Services::{
        RegisterServiceCtrlHandlerExW, SERVICE_ACCEPT_STOP, SERVICE_CONTROL_STOP, SERVICE_RUNNING,
        SERVICE_STATUS, SERVICE_STATUS_HANDLE, SERVICE_STOP_PENDING, SERVICE_STOPPED,
        SERVICE_TABLE_ENTRYW, SERVICE_WIN32_OWN_PROCESS, SetServiceStatus,
        StartServiceCtrlDispatcherW,
    };

    static NAME: OnceLock<Vec<u16>> = OnceLock::new();
    static PORT: OnceLock<u16> = OnceLock::new();
    static HANDLE: OnceLock<usize> = OnceLock::new();
    static STOP: AtomicBool = AtomicBool::new(false);

    fn set_status(state: u32) {
        let Some(&h) = HANDLE.get() else { return };
        let status = SERVICE_STATUS {
            dwServiceType: SERVICE_WIN32_OWN_PROCESS,
            dwCurrentState: state,
            dwControlsAccepted: if state == SERVICE_RUNNING {
                SERVICE_ACCEPT_STOP
            } else {
                0
            },
            dwWin32ExitCode: NO_ERROR,
            dwServiceSpecificExitCode: 0,
            dwCheckPoint: 0,
            dwWaitHint: 5000,
        };
        // SAFETY: h came from RegisterServiceCtrlHandlerExW; status is a valid struct.
        unsafe { SetServiceStatus(h as SERVICE_STATUS_HANDLE, &raw const status) };
    }

    unsafe extern "system" fn handler(
        control: u32,
        _event: u32,
        _data: *mut core::ffi::c_void,
        _context: *mut core::ffi::c_void,
    ) -> u32 {
        if control == SERVICE_CONTROL_STOP {
            STOP.store(true, Ordering::SeqCst);
            set_status(SERVICE_STOP_PENDING);
        }
        NO_ERROR
    }

    unsafe extern "system" fn service_main(_argc: u32, _argv: *mut windows_sys::core::PWSTR) {
        let name = NAME.get().expect("set before the dispatcher starts");
        // SAFETY: name is NUL-terminated and lives for the whole process.
        let h = unsafe {
            RegisterServiceCtrlHandlerExW(name.as_ptr(), Some(handler), std::ptr::null_mut())
        };
        let _ = HANDLE.set(h as usize);
        let port = *PORT.get().expect("set before the dispatcher starts");
        let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) else {
            set_status(SERVICE_STOPPED);
            return;
        };
        set_status(SERVICE_RUNNING);
        while !STOP.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(listener);
        set_status(SERVICE_STOPPED);
    }

    pub(crate) fn run() {
        let mut args = std::env::args().skip(1);
        let (Some(name), Some(port)) = (args.next(), args.next().and_then(|p| p.parse().ok()))
        else {
            eprintln!("usage: win_service NAME PORT (started by the service manager)");
            std::process::exit(2);
        };
        let _ = NAME.set(name.encode_utf16().chain(Some(0)).collect());
        let _ = PORT.set(port);
        let mut wname = NAME.get().expect("just set").clone();
        let table = [
            SERVICE_TABLE_ENTRYW {
                lpServiceName: wname.as_mut_ptr(),
                lpServiceProc: Some(service_main),
            },
            SERVICE_TABLE_ENTRYW {
                lpServiceName: std::ptr::null_mut(),
                lpServiceProc: None,
            },
        ];
        // SAFETY: the table ends with a null entry; it and the name outlive the call, which
        // returns when the service has stopped.
        if unsafe { StartServiceCtrlDispatcherW(table.as_ptr()) } == 0 {
            eprintln!(
                "not started by the service manager: {}",
                std::io::Error::last_os_error()
            );
            std::process::exit(1);
        }
    }
}

fn main() {
    #[cfg(windows)]
    service::run();
    #[cfg(not(windows))]
    eprintln!("win_service is a Windows service for lport's Windows tests");
}
