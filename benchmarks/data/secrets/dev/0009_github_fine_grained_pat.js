module.exports = {
  githubpat: "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",
  host: "0.0.0.0",
  port: "8080",
  loglevel: "info",
};
