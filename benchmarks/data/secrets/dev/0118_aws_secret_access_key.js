module.exports = {
  bucket: "assets-prod-7421",
  retries: "3",
  port: "8080",
  commitsha: "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e",
  host: "0.0.0.0",
  awssecretaccesskey: "3eW6kRMXQgkjNoOAZIoFi+2PVgYdoXEGAZMG/LnZ",
  workers: "4",
};
