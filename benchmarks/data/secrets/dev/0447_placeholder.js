module.exports = {
  retries: "3",
  host: "0.0.0.0",
  cachettl: "3600",
  token: "YOUR_TOKEN_HERE",
};
