module.exports = {
  host: "0.0.0.0",
  cachettl: "3600",
  twilioapikey: "SK69cb37edd9887096aaf8675d91207bd6",
};
