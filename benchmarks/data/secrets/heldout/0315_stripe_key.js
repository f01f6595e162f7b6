module.exports = {
  buildid: "20240611.3",
  debug: "false",
  stripekey: "sk_test_CrgiW65sXnVwQDaZIxhZAp7J64S3SEm7sbf0TPL08cQO7LjKgLy6TL4Slaa0z0rhRQtjKXaXM4QCu18iJjOEaNEfOZVoSlWrB5L",
  sentryenvironment: "prod",
  loglevel: "info",
  locale: "en_US",
  appenv: "production",
};
