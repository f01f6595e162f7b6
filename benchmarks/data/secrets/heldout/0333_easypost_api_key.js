module.exports = {
  host: "0.0.0.0",
  appenv: "production",
  workers: "4",
  retries: "3",
  easypostapikey: "EZAK8cmenoq7fk9u6kc8bygw1gn2n49tvxwqaurj5softx7vmzypldzq2c",
  sentryenvironment: "prod",
};
