// The new-password form's strength estimate: zxcvbn (the @zxcvbn-ts browser builds) with
// Zulip's rule, at least 10,000 guesses and 6 characters. The server checks the same rule.
const MIN_GUESSES = 10_000;
const MIN_LENGTH = 6;
const { zxcvbn, zxcvbnOptions } = window.zxcvbnts.core;
const common = window.zxcvbnts["language-common"];
zxcvbnOptions.setOptions({ dictionary: { ...common.dictionary }, graphs: common.adjacencyGraphs });

const input = document.getElementById("id_new_password1");
const box = document.getElementById("strength-box");
const meter = document.getElementById("password-strength");
const text = document.getElementById("strength-text");

function update() {
  const password = input.value;
  box.hidden = password === "";
  if (password === "") return;
  const result = zxcvbn(password.slice(0, 100));
  const acceptable = [...password].length >= MIN_LENGTH && result.guesses >= MIN_GUESSES;
  meter.value = acceptable ? Math.max(result.score, 2) : Math.min(result.score, 1);
  text.textContent = acceptable
    ? result.score >= 3
      ? "Strong password"
      : "Acceptable password"
    : [...password].length < MIN_LENGTH
      ? "Too short"
      : "Too weak: easy to guess";
}

input.addEventListener("input", update);
// Whatever was typed before this script loaded is rated too.
update();
