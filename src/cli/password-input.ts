/** Reading from the person at the terminal: a hidden prompt for passwords, the first line of stdin otherwise. */
import { createInterface } from "node:readline";
import { CliError } from "./command-kit.js";

/** The first line of a stream (without its line ending), or "" when it has none. */
export async function readFirstLine(stream: NodeJS.ReadableStream): Promise<string> {
  const rl = createInterface({ input: stream, terminal: false });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return "";
}

/** Asks one question on the terminal (on stderr, so stdout stays for output); `hidden` echoes nothing typed. */
export async function promptLine(question: string, { hidden }: { hidden: boolean }): Promise<string> {
  const out = process.stderr;
  const rl = createInterface({ input: process.stdin, output: out, terminal: true });
  if (hidden) {
    // Echo nothing while the password is typed: only the question itself reaches the terminal.
    const write = (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput;
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
      if (s.startsWith(question)) write.call(rl, question);
    };
  }
  return new Promise((resolve, reject) => {
    // Ctrl-C at the prompt ends the command rather than leaving it waiting.
    rl.on("SIGINT", () => {
      rl.close();
      out.write("\n");
      reject(new CliError("cancelled"));
    });
    rl.question(question, (answer) => {
      rl.close();
      if (hidden) out.write("\n");
      resolve(answer);
    });
  });
}

/** A new password: asked twice on a terminal, the first line of stdin otherwise. */
export async function readPassword(label = "Password"): Promise<string> {
  if (!process.stdin.isTTY) return readFirstLine(process.stdin);
  const first = await promptLine(`${label}: `, { hidden: true });
  const second = await promptLine(`${label} (again): `, { hidden: true });
  if (first !== second) throw new CliError("the passwords do not match");
  return first;
}
