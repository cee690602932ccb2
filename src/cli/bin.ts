/** Entry point of the `latchkey` command. */
import { main } from "./main.js";

main(process.argv).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
