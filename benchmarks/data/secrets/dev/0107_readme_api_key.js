module.exports = {
  maxuploadmb: "25",
  readmeapikey: "rdme_8ld3l74ibplmcvw4tvvuftze5uw1ghbj8xpbf9gt1ysu4dprv0udfecuidtqo7u9nni2yj",
  host: "0.0.0.0",
};
