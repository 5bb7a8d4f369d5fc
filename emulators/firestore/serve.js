// Start @firestore-emulator/server on 127.0.0.1 only. Its own start() binds 0.0.0.0 and takes no host,
// so we bind the same gRPC server ourselves. Usage: node serve.js <port>
"use strict";
const grpc = require("@grpc/grpc-js");
const { FirestoreServer } = require("@firestore-emulator/server");

const port = Number.parseInt(process.argv[2] || "8086", 10);
const emulator = new FirestoreServer();
emulator.server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
  if (err) {
    console.error(`firestore emulator: cannot bind 127.0.0.1:${port}: ${err.message}`);
    process.exit(1);
  }
  console.log(`firestore emulator listening on 127.0.0.1:${bound}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    emulator.stop();
    process.exit(0);
  });
}
