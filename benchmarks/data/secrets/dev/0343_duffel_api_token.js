module.exports = {
  port: "8080",
  workers: "4",
  locale: "en_US",
  duffelaccesstoken: "duffel_live_vyFtWn2-Ukiu6TrgMZxS0tZZ7nXB4nvRdmbMdrNmV-z",
};
