module.exports = {
  brokerurl: "postgresql://app:IVleMn3cmLF8xIQS@stlurw.internal:5432/cfggs",
  maxuploadmb: "25",
  appenv: "production",
  debug: "false",
};
