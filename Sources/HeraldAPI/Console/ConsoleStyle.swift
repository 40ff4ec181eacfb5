internal import Crypto
internal import Foundation

/// The console's one stylesheet, inlined into every page, and the Content-Security-Policy that admits
/// exactly it.
///
/// Why inline and hashed: the release binary is copied alone into a container, so there is no file to
/// serve; and a policy naming the stylesheet's SHA-256 (with no scripts allowed at all) means that even
/// markup slipped past the escaping could neither run a script nor restyle the page.
enum ConsoleStyle {
    static let css = """
        :root{--bg:#f4f5f7;--card:#fff;--ink:#1d2330;--muted:#5f6b7a;--line:#e2e5ea;--accent:#2557d6;--bar:#172033;
        --red:#c62828;--redbg:#fdecea;--amber:#a15c00;--amberbg:#fff3dc;--green:#1e7b34;--greenbg:#e6f4ea;--blue:#1f57c3;
        --bluebg:#e8effd;--grey:#535c69;--greybg:#eceef1}
        *{box-sizing:border-box}
        body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
        a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
        header{background:var(--bar);color:#fff}
        .bar{max-width:1320px;margin:0 auto;padding:0 20px;display:flex;align-items:center;gap:24px;height:52px}
        .brand{font-weight:700;font-size:16px;letter-spacing:.2px;color:#fff}.brand span{color:#8fb0ff;font-weight:500}
        nav{display:flex;gap:4px;flex:1}
        nav a{color:#c9d3e6;padding:6px 12px;border-radius:6px}nav a:hover{background:#263252;text-decoration:none;color:#fff}
        nav a.on{background:#2c3a5e;color:#fff}
        .who{color:#9aa6bd;font-size:13px;display:flex;align-items:center;gap:10px}
        .who form{margin:0}
        main{max-width:1320px;margin:0 auto;padding:20px}
        h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:22px 0 10px}
        .sub{color:var(--muted);margin:0 0 16px}
        .card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px}
        .notice{padding:10px 14px;border-radius:8px;margin:0 0 14px;border:1px solid}
        .notice.ok{background:var(--greenbg);border-color:#b7dfc2;color:var(--green)}
        .notice.warn{background:var(--amberbg);border-color:#f0d29a;color:var(--amber)}
        .notice.err{background:var(--redbg);border-color:#f3b8b3;color:var(--red)}
        form.filters{display:flex;flex-wrap:wrap;gap:10px 14px;align-items:flex-end;margin-bottom:14px}
        label{display:flex;flex-direction:column;gap:3px;font-size:12px;color:var(--muted);font-weight:600}
        input,select,textarea{font:inherit;color:var(--ink);padding:6px 8px;border:1px solid #c8ced8;border-radius:6px;background:#fff}
        input:focus,select:focus,textarea:focus{outline:2px solid #9db7f5;border-color:var(--accent)}
        .btn{font:inherit;font-weight:600;border-radius:6px;padding:6px 12px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer}
        .btn:hover{filter:brightness(1.08)}
        .btn.light{background:#fff;color:var(--accent)}
        .btn.small{padding:3px 9px;font-size:12px}
        .btn.ghost{background:transparent;border-color:#46557a;color:#dfe6f5}
        .actions{display:flex;gap:6px;justify-content:flex-end}.actions form{margin:0}
        table{width:100%;border-collapse:collapse;background:var(--card)}
        .tablewrap{background:var(--card);border:1px solid var(--line);border-radius:10px;overflow-x:auto}
        th{text-align:left;font-size:12px;text-transform:uppercase;letter-spacing:.4px;color:var(--muted);background:#fafbfc;
        border-bottom:1px solid var(--line);padding:8px 10px;white-space:nowrap}
        td{padding:8px 10px;border-bottom:1px solid var(--line);vertical-align:top}
        td:first-child,th:first-child{padding-left:14px}td:last-child,th:last-child{padding-right:14px}
        tr:last-child td{border-bottom:0}tbody tr:hover{background:#f8f9fb}
        td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
        .mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
        .url{display:block;max-width:280px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;vertical-align:bottom}
        .clip{display:block;max-width:300px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;vertical-align:bottom}
        .muted{color:var(--muted)}.nowrap{white-space:nowrap}
        .badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;white-space:nowrap}
        .b-dead,.b-open{background:var(--redbg);color:var(--red)}
        .b-failed,.b-half_open,.b-disabled{background:var(--amberbg);color:var(--amber)}
        .b-pending{background:var(--bluebg);color:var(--blue)}
        .b-delivered,.b-closed,.b-enabled{background:var(--greenbg);color:var(--green)}
        .b-cancelled,.b-unknown{background:var(--greybg);color:var(--grey)}
        .pager{display:flex;justify-content:space-between;align-items:center;margin-top:12px;color:var(--muted)}
        .pager .links{display:flex;gap:8px}
        dl.facts{display:grid;grid-template-columns:150px 1fr 150px 1fr;gap:6px 14px;margin:0}
        dl.facts dt{color:var(--muted);font-weight:600;font-size:12.5px}dl.facts dd{margin:0;overflow-wrap:anywhere}
        .head{display:flex;justify-content:space-between;align-items:flex-start;gap:16px;margin-bottom:14px}
        .label{margin-top:8px;font-size:11px;font-weight:600;text-transform:uppercase;letter-spacing:.4px;color:var(--muted)}
        pre{margin:2px 0 0;padding:8px 10px;background:#f6f7f9;border:1px solid var(--line);border-radius:6px;white-space:pre-wrap;
        overflow-wrap:anywhere;max-height:160px;overflow:auto;font-size:12.5px}
        .empty{padding:28px;text-align:center;color:var(--muted)}
        .login{max-width:460px;margin:70px auto}
        .login textarea{width:100%;min-height:84px;resize:vertical;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
        .login .btn{margin-top:12px;width:100%;padding:9px}
        .hint{color:var(--muted);font-size:12.5px;margin-top:10px}
        code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;background:#eef0f3;padding:1px 5px;border-radius:4px}
        .good{color:var(--green)}.fair{color:var(--amber)}.poor{color:var(--red);font-weight:600}
        meter{width:64px;height:9px;vertical-align:middle;margin-left:8px}
        """

    /// The `Content-Security-Policy` of every console page: nothing but this stylesheet and same-origin forms.
    static let contentSecurityPolicy: String = {
        let digest = Data(SHA256.hash(data: Data(css.utf8))).base64EncodedString()
        return "default-src 'none'; style-src 'sha256-\(digest)'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    }()
}
