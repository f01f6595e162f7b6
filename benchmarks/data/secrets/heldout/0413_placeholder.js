module.exports = {
  buildid: "20240611.3",
  commitsha: "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e",
  workers: "4",
  redisurl: "redis://username:password@redis-host:6379/0",
};
