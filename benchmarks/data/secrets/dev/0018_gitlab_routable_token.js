module.exports = {
  commitsha: "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e",
  retries: "3",
  workers: "4",
  runnertoken: "glpat-gtkZKEJhnrPfUI1lkRaN0zjl4vR.01.a77opt8zj",
  timezone: "UTC",
};
