module.exports = {
  host: "0.0.0.0",
  cachettl: "3600",
  loglevel: "info",
  awssecretaccesskey: "4P38KE73cjQ95Lt1n/85onKONJf24I7CWS0qVqUf",
  commitsha: "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e",
  port: "8080",
};
