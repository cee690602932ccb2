// The zuliprc file as Zulip's web app generates it (docs/zulip-rules.md §9); the same text as
// src/domain/zuliprc.ts renders on the server.
export function zuliprcContent({ email, key, site, token }) {
  let text = `[api]\nemail=${email}\nkey=${key}\nsite=${site}\n`;
  if (token) text += `token=${token}\n`;
  return text;
}

export function zuliprcDataUrl(text) {
  return `data:application/octet-stream;charset=utf-8,${encodeURIComponent(text)}`;
}
