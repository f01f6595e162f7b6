module.exports = {
  appenv: "production",
  perplexityapikey: "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",
  maxuploadmb: "25",
};
