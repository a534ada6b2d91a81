/*
 * Evaluated by the browser engine in every WhatsApp Web document, right after
 * wa-js was injected (see browser.py). It waits for WPP to be ready, then
 * forwards the WPP events the engine maps to its typed events through ONE
 * exposed binding, as JSON strings: {"kind": ..., "data": ...}. Models (Wid,
 * MsgKey, Msg) are flattened here to plain strings and numbers, because only
 * the page can read them; the mapping to engine events is Python's job.
 *
 * Returns the state at the moment the listeners were attached, because events
 * fired before that (a restored session's main_ready, the first auth code)
 * are lost otherwise.
 */
async ({ binding }) => {
  const emit = (kind, data) => window[binding](JSON.stringify({ kind, data: data ?? null }));
  const str = (value) => {
    if (value === null || value === undefined) return null;
    if (typeof value === 'string') return value;
    if (value._serialized) return value._serialized;
    return String(value);
  };
  const me = () => {
    try {
      return str(WPP.conn.getMyUserId());
    } catch (error) {
      return null;
    }
  };
  const authCode = (code) => (code && code.fullCode ? { fullCode: code.fullCode } : null);

  if (!window.WPP) throw new Error('wa-js did not load (no window.WPP)');
  if (!WPP.isReady) {
    await new Promise((resolve) => WPP.webpack.onReady(resolve));
  }
  if (window.__wafleetBridge) return null;  // this document is already bridged
  window.__wafleetBridge = true;

  WPP.on('conn.auth_code_change', (code) => emit('auth_code', authCode(code)));
  WPP.on('conn.authenticated', () => emit('authenticated', { me: me() }));
  WPP.on('conn.main_ready', () => emit('main_ready', { me: me() }));
  WPP.on('conn.logout', () => emit('logout', {}));
  WPP.on('conn.stream_mode_changed', (mode) => emit('stream_mode', { mode: String(mode) }));
  WPP.on('chat.new_message', (msg) => {
    const key = msg.id || {};
    emit('message', {
      id: str(key),
      fromMe: Boolean(key.fromMe ?? msg.fromMe),
      from: str(msg.from),
      to: str(msg.to),
      author: str(msg.author),
      body: typeof msg.body === 'string' ? msg.body : null,
      caption: typeof msg.caption === 'string' ? msg.caption : null,
      type: msg.type ? String(msg.type) : null,
      t: typeof msg.t === 'number' ? msg.t : null,
      mimetype: msg.mimetype ? String(msg.mimetype) : null,
      size: typeof msg.size === 'number' ? msg.size : null,
      filename: msg.filename ? String(msg.filename) : null,
    });
  });
  WPP.on('chat.msg_ack_change', (change) => {
    emit('ack', { ack: Number(change.ack), ids: (change.ids || []).map(str) });
  });

  let mainReady = false;
  try {
    mainReady = Boolean(WPP.conn.isMainReady());
  } catch (error) {
    mainReady = false;
  }
  let code = null;
  try {
    code = authCode(WPP.conn.getAuthCode());
  } catch (error) {
    code = null;
  }
  return {
    authenticated: Boolean(WPP.conn.isAuthenticated()),
    mainReady,
    me: me(),
    authCode: code,
  };
};
