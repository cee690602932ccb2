/** Reading a password for the CLI: a hidden prompt on a terminal, the first line of stdin otherwise. */
import { createInterface } from "node:readline";

async function readFirstLine(stream: NodeJS.ReadableStream): Promise<string> {
  const rl = createInterface({ input: stream, terminal: false });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return "";
}

async function prompt(question: string): Promise<string> {
  const out = process.stderr;
  const rl = createInterface({ input: process.stdin, output: out, terminal: true });
  // Echo nothing while the password is typed.
  const write = (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput;
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
    if (s.startsWith(question)) write.call(rl, question);
  };
  return new Promise((resolve) => {
    rl.question(question, (answer) => {
      rl.close();
      out.write("\n");
      resolve(answer);
    });
  });
}

export async function readPassword(label = "Password"): Promise<string> {
  if (!process.stdin.isTTY) return readFirstLine(process.stdin);
  const first = await prompt(`${label}: `);
  const second = await prompt(`${label} (again): `);
  if (first !== second) throw new Error("the passwords do not match");
  return first;
}
