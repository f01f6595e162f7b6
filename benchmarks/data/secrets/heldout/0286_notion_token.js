module.exports = {
  host: "0.0.0.0",
  appenv: "production",
  notiontoken: "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",
  bucket: "assets-prod-7421",
};
